//go:build race

package main

// The daemon binary is built with the race detector when the tests run with it.
func init() { buildFlags = append(buildFlags, "-race") }
