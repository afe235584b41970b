package api

import (
	"reflect"

	"github.com/gigafactory/gigafactory/internal/core"
)

func reflectTypeOfJobSpec() reflect.Type { return reflect.TypeOf(core.JobSpec{}) }
