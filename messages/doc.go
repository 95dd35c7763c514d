// Package messages holds everything actors send each other, one file per sending actor.
// Messages are pointers to structs and are frozen once sent: values, errors and PIDs only.
package messages
