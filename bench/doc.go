// Package bench measures holdfast on loopback: throughput and latency against a bare
// gorilla/websocket client (the ceiling), memory idle and with 1,000 streams, memory under a
// slow sink, and recovery times after faults. Each measurement is a function returning a
// result struct; `holdfast-bench` (bench/cmd/holdfast-bench) runs them in child processes and prints
// them, and BENCHMARKS.md says exactly what each figure means.
//
// The package stands outside the actors: it measures real time, so it reads time.Now and
// waits on real timers, like the upstream it drives.
package bench
