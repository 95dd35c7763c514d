// Package faults is holdfast's fault-injection suite. It has no code of its own: its tests
// run a whole stream (connection, router, cursor, file sink) against the embedded upstream
// through an in-process toxiproxy on 127.0.0.1, and break the link between them with
// toxics: latency and jitter, a bandwidth limit, resets in the middle of a frame, a link
// that stops passing data without closing, and writes sliced into tiny segments.
//
// Each test publishes a few thousand events while its fault is active, removes the fault,
// and checks that the file sink holds every seq exactly once: the cursor and the upstream's
// replay must make up for whatever the fault destroyed, and the router must drop what is
// replayed twice. The tests use the system clock, because the faults act in real time, and
// wait on conditions under deadlines.
package faults
