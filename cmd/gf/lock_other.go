//go:build !unix

package main

// lockDataDir takes no lock where flock is missing.
func lockDataDir(dir string) (release func(), err error) { return func() {}, nil }
