package store

import (
	"errors"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", "ajE", encodeCursor(1), encodeCursor(1 << 62), "garbage!", "ai0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decodeCursor(%q): error %v does not wrap ErrBadCursor", s, err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("decodeCursor(%q) = %d, want a positive id", s, id)
		}
		if back, err := decodeCursor(encodeCursor(id)); err != nil || back != id {
			t.Fatalf("round trip of %d: %d, %v", id, back, err)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []core.JobID{1, 42, 1<<63 - 1} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("decodeCursor(encodeCursor(%d)) = %d, %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "x", encodeCursor(1)[:1], "ajA"} {
		if _, err := decodeCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("decodeCursor(%q): err = %v, want ErrBadCursor", bad, err)
		}
	}
}

func TestStatements(t *testing.T) {
	got := statements("-- comment\nCREATE TABLE a (\n\tx BIGINT\n);\n\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a (\n\tx BIGINT\n);", "INSERT INTO a VALUES (1);", "SELECT 1"}
	if len(got) != len(want) {
		t.Fatalf("statements = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %q, want %q", i, got[i], want[i])
		}
	}
}
