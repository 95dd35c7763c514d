package messages

// Reasons a frame is not routed (FrameReceived.Invalid); they double as the parse_errors
// metric label. The wire package's ParseFrame gives the first four.
const (
	InvalidBinary  = "binary frame"
	InvalidJSON    = "not JSON"
	InvalidObject  = "not an object"
	InvalidType    = "no string type"
	InvalidTooLong = "frame too large"
)
