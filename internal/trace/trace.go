// Package trace reads GPU-cluster job traces as streams of jobs: the
// Microsoft Philly job table, the Alibaba PAI "openb" node and pod lists,
// and Gigafactory's own canonical CSV.
//
// Every reader is a pull iterator: Next returns one Job at a time and
// io.EOF at the end, holding one row in memory whatever the file's size.
// Rows that cannot be parsed are never dropped silently: by default they are
// skipped, counted and the first few kept with their line numbers
// (Reader.Bad); in strict mode the first bad row ends the stream with a
// *RowError.
//
// Files whose name ends in ".gz" are decompressed on the fly by Open.
package trace

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Job is one job (or pod) of a trace, in the trace's own terms; the
// simulator turns it into a core.Job.
type Job struct {
	// Line is the 1-based line of the source file the job came from.
	Line int
	// Name is the trace's own identifier when it has one (openb pod name).
	Name string
	// Submit is the submission time, relative to the trace's epoch.
	Submit time.Duration
	// Duration is how long the job ran (its service time).
	Duration time.Duration
	// Accelerators is the total request in thousandths of an accelerator.
	Accelerators core.Milli
	// Devices is the number of accelerators the request spans: 1 for a
	// shared (fractional) request, Accelerators/1000 for whole devices.
	Devices int
	// CPUMilli and MemMiB are the host resources asked for (openb); 0 when
	// the trace does not say.
	CPUMilli int64
	MemMiB   int64
	// Tenant is who submitted it: Philly's virtual cluster, the CSV's tenant.
	Tenant string
	// OrgKind is the organisation class (core.OrgResearch...) when known.
	OrgKind string
	// Model lists acceptable accelerator models, "|"-separated; "" = any.
	Model string
	// Walltime is the requested limit; 0 = not given.
	Walltime time.Duration
	// Residency lists allowed ISO 3166-1 alpha-2 countries; nil = anywhere.
	Residency []string
	// Preemptible marks jobs that may be stopped and requeued.
	Preemptible bool
}

// PerDevice is the share of each device the job asks for, in thousandths:
// 1000 for whole-device jobs, less for a shared one, 0 for CPU-only.
func (j Job) PerDevice() core.Milli {
	if j.Devices == 0 {
		return 0
	}
	return j.Accelerators / core.Milli(j.Devices)
}

// Reader is a stream of jobs. Next returns io.EOF after the last job.
type Reader interface {
	Next() (Job, error)
}

// RowError is a row that could not be parsed.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// Options control how readers treat bad rows.
type Options struct {
	// Strict makes the first bad row end the stream with a *RowError.
	Strict bool
	// KeepBad is how many bad rows to keep for reporting (default 20).
	KeepBad int
}

// BadRows counts and samples the rows a reader skipped.
type BadRows struct {
	Count  int         // rows skipped
	Sample []*RowError // the first Options.KeepBad of them
}

// rows is the CSV machinery the readers share: header lookup, line numbers,
// bad-row accounting.
type rows struct {
	r      *csv.Reader
	opts   Options
	cols   map[string]int
	line   int
	bad    BadRows
	closer io.Closer
}

func newRows(src io.Reader, opts Options, required ...string) (*rows, error) {
	if opts.KeepBad == 0 {
		opts.KeepBad = 20
	}
	cr := csv.NewReader(src)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file: want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	rs := &rows{r: cr, opts: opts, cols: map[string]int{}, line: 1}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := rs.cols[h]; dup {
			return nil, fmt.Errorf("line 1: column %q appears twice", h)
		}
		rs.cols[h] = i
	}
	for _, c := range required {
		if _, ok := rs.cols[c]; !ok {
			return nil, fmt.Errorf("line 1: missing column %q (header: %s)", c, strings.Join(head, ","))
		}
	}
	return rs, nil
}

// next returns the next record, or io.EOF. Records that the CSV layer
// rejects go through fail like any other bad row.
func (rs *rows) next() ([]string, error) {
	for {
		rec, err := rs.r.Read()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, err // an I/O error: do not loop on it
			}
			rs.line = pe.StartLine
			if ferr := rs.fail(pe.Err); ferr != nil {
				return nil, ferr
			}
			continue
		}
		rs.line, _ = rs.r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		return rec, nil
	}
}

// fail records a bad row; it returns the error to stop with in strict mode.
func (rs *rows) fail(err error) error {
	re := &RowError{Line: rs.line, Err: err}
	if rs.opts.Strict {
		return re
	}
	rs.bad.Count++
	if len(rs.bad.Sample) < rs.opts.KeepBad {
		rs.bad.Sample = append(rs.bad.Sample, re)
	}
	return nil
}

// field returns the named column of rec, "" when absent.
func (rs *rows) field(rec []string, name string) string {
	i, ok := rs.cols[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func (rs *rows) has(name string) bool { _, ok := rs.cols[name]; return ok }

// Bad reports the rows skipped so far.
func (rs *rows) Bad() BadRows { return rs.bad }

// nextJob returns the next row that parse accepts, skipping and counting
// bad rows (or failing on the first one in strict mode).
func (rs *rows) nextJob(parse func([]string) (Job, error)) (Job, error) {
	for {
		rec, err := rs.next()
		if err != nil {
			return Job{}, err
		}
		j, err := parse(rec)
		if err == nil {
			return j, nil
		}
		if ferr := rs.fail(err); ferr != nil {
			return Job{}, ferr
		}
	}
}

func (rs *rows) setCloser(c io.Closer) { rs.closer = c }

// openReader opens path (".gz" allowed) and reads it with newReader; the
// reader closes the file when closed.
func openReader[T interface{ setCloser(io.Closer) }](path string, opts Options, newReader func(io.Reader, Options) (T, error)) (T, error) {
	var zero T
	f, c, err := openFile(path)
	if err != nil {
		return zero, err
	}
	r, err := newReader(f, opts)
	if err != nil {
		c.Close()
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	r.setCloser(c)
	return r, nil
}

// Close closes the underlying file when the reader opened it.
func (rs *rows) Close() error {
	if rs.closer != nil {
		return rs.closer.Close()
	}
	return nil
}

// seconds parses a non-negative number of seconds ("66", "66.0", "1e3").
func seconds(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	if v < 0 || v != v {
		return 0, fmt.Errorf("negative: %q", s)
	}
	if v > maxSeconds {
		return 0, fmt.Errorf("too large: %q", s)
	}
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond), nil
}

// maxSeconds bounds times at about 100 years so arithmetic cannot overflow.
const maxSeconds = 100 * 365 * 24 * 3600

// integer parses a non-negative integer no larger than max.
func integer(s string, max int64) (int64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Some exports write integers as "8.0".
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, fmt.Errorf("not an integer: %q", s)
		}
		v = int64(f)
	}
	if v < 0 {
		return 0, fmt.Errorf("negative: %q", s)
	}
	if v > max {
		return 0, fmt.Errorf("too large: %q (max %d)", s, max)
	}
	return v, nil
}

// openFile opens path, decompressing it when the name ends in ".gz".
func openFile(path string) (io.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return zr, f, nil
}

// Source is an opened trace: a Reader that can report skipped rows and be
// closed.
type Source interface {
	Reader
	Bad() BadRows
	Close() error
}

// Open opens a trace named as the simulator's --trace flag spells it:
// "philly:PATH", "csv:PATH" or "openb:NODES_CSV,PODS_CSV" (the node list is
// ignored here; read it with ReadNodes).
func Open(spec string, opts Options) (Source, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("trace %q: want KIND:PATH (philly:, csv:, openb:NODES,PODS)", spec)
	}
	var (
		src Source
		err error
	)
	switch kind {
	case "philly":
		src, err = OpenPhilly(arg, opts)
	case "csv":
		src, err = OpenCSV(arg, opts)
	case "openb":
		_, pods, ok := strings.Cut(arg, ",")
		if !ok {
			return nil, fmt.Errorf("trace %q: want openb:NODES_CSV,PODS_CSV", spec)
		}
		src, err = OpenPods(pods, opts)
	default:
		return nil, fmt.Errorf("trace %q: unknown kind %q (philly, csv, openb)", spec, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", spec, err)
	}
	return src, nil
}
