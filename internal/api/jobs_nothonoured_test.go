package api

import (
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestNotHonouredRefused: the sbatch options the scheduler does not act on
// yet are refused by name, never accepted and silently ignored; options
// that only describe the job pass.
func TestNotHonouredRefused(t *testing.T) {
	yes := true
	for _, c := range []struct {
		name string
		sp   core.JobSpec
		want string // field named, "" = accepted
	}{
		{"plain", core.JobSpec{Command: []string{"true"}}, ""},
		{"metadata only", core.JobSpec{Command: []string{"true"}, Comment: "c", Hint: "nomultithread", MailType: "END", SiteQoS: "boost_qos_dbg", NodesMax: 4, Requeue: &yes, Export: "ALL"}, ""},
		{"one task", core.JobSpec{Command: []string{"true"}, Tasks: 1}, ""},
		{"tasks", core.JobSpec{Command: []string{"true"}, Tasks: 8}, ""},
		{"cpus", core.JobSpec{Command: []string{"true"}, CPUsPerTask: 7}, ""},
		{"mem=0", core.JobSpec{Command: []string{"true"}, MemAll: true}, ""},
		{"exclusive", core.JobSpec{Command: []string{"true"}, Exclusive: true, Constraint: "ib"}, ""},
		{"array", core.JobSpec{Command: []string{"true"}, Array: &core.JobArray{}}, ""},
		{"dependency", core.JobSpec{Command: []string{"true"}, Dependency: &core.Dependency{}}, ""},
		{"begin", core.JobSpec{Command: []string{"true"}, Begin: "now+1hour"}, ""},
		{"export none", core.JobSpec{Command: []string{"true"}, Export: "NONE"}, "export"},
	} {
		err := notHonoured(c.sp, "jobs[0].")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "jobs[0]."+c.want)):
			t.Errorf("%s: want %s named, got %v", c.name, c.want, err)
		}
	}
}
