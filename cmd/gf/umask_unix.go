//go:build unix

package main

import "syscall"

// setPrivateUmask makes files this process creates private to its user.
func setPrivateUmask() { syscall.Umask(0o077) }
