package local

import (
	"os"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/drivertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) drivertest.Instance {
			dir := t.TempDir()
			d := newDriver(t, dir)
			return drivertest.Instance{
				Driver:  d,
				Advance: time.Sleep,
				Restart: func(t *testing.T) driver.Driver {
					d.Close()
					return newDriver(t, dir)
				},
			}
		},
		Tick:     100 * time.Millisecond,
		Walltime: 300 * time.Millisecond,
		Node:     host,
		AccelEnv: true,
	})
}
