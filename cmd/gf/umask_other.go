//go:build !unix

package main

// setPrivateUmask does nothing where there is no umask.
func setPrivateUmask() {}
