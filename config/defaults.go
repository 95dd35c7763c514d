package config

import "time"

// Defaults for DaemonConfig.
const (
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "auto"
	DefaultStateDir        = "./state"
	DefaultShutdownTimeout = 10 * time.Second
)

// Defaults for ControlConfig.
const (
	DefaultControlListen     = "127.0.0.1:7070"
	DefaultControlSocketMode = "0600"
	DefaultControlMaxBody    = 1 * MiB
)

// Defaults for BackoffConfig as used by [stream.reconnect].
const (
	DefaultInitialDelay = 1 * time.Second
	DefaultMaxDelay     = 30 * time.Second
	DefaultMultiplier   = 2.0
	DefaultJitter       = JitterEqual
)

// Defaults for SinkConfig. Timeout depends on Kind, so it is applied after decoding.
const (
	DefaultSinkBuffer            = 1024
	DefaultSinkMaxRetries        = 5
	DefaultSinkRetryInitialDelay = 500 * time.Millisecond
	DefaultSinkRetryMaxDelay     = 30 * time.Second
	DefaultSinkRetryMultiplier   = 2.0
	DefaultSinkRetryJitter       = JitterEqual
	DefaultFlushInterval         = 100 * time.Millisecond
	DefaultFsync                 = false
	DefaultExecMode              = "per_event"
	DefaultExecTimeout           = 30 * time.Second
	DefaultWebhookTimeout        = 10 * time.Second
	DefaultConcurrency           = 1
	DefaultBatchMax              = 1
	DefaultBatchWait             = time.Duration(0)
	DefaultUnhealthyAfter        = time.Minute
)

// Upper bounds of sink sizes: each costs memory or goroutines up front, so an extra zero is
// rejected rather than started (a concurrency of 100,000,000 took 2.1 GB in 3 s).
const (
	MaxSinkBuffer  = 1 << 20
	MaxConcurrency = 1024
	MaxBatch       = 10000
)

// Defaults for the nats sink and NATSConnConfig.
const (
	DefaultNATSURL             = "nats://127.0.0.1:4222"
	DefaultNATSConnectionName  = "holdfast"
	DefaultNATSSubject         = "holdfast.{stream}.{type}"
	DefaultNATSJetStream       = "HOLDFAST"
	DefaultNATSStorage         = "file"
	DefaultNATSReplicas        = 1
	DefaultNATSRetention       = "limits"
	DefaultNATSDuplicateWindow = 2 * time.Minute
	DefaultNATSMaxPending      = 256
	DefaultNATSTimeout         = 10 * time.Second
)

// Defaults for ClusterConfig.
const (
	DefaultClusterBucket   = "holdfast"
	DefaultClusterLeaseTTL = 10 * time.Second
	DefaultClusterSlack    = 0
	DefaultClusterReplicas = 1
)

// Defaults for StreamConfig.
const (
	DefaultReadLimit        = 1 * MiB
	DefaultMaxInflightBytes = 64 * MiB
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultCompression      = false
	DefaultProtocol         = "json"
)

// Defaults for FramingConfig.
const (
	DefaultTypePath = "/type"
)

// Defaults for SocketIOConfig.
const (
	DefaultSocketIONamespace = "/"
	DefaultSocketIOPath      = "/socket.io/"
	DefaultSocketIOEmitEvent = "message"
)

// Defaults for ReconnectConfig (besides the BackoffConfig ones).
const (
	DefaultMaxAttempts = 0 // never give up
	DefaultStableAfter = 30 * time.Second
	DefaultMaxHint     = 5 * time.Minute // longest server hint (Retry-After, close 1013) honoured
)

// Defaults for HeartbeatConfig.
const (
	DefaultHeartbeatMode     = HeartbeatMessage
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
	DefaultAnyFrameAlive     = true
	DefaultStaleAfter        = time.Duration(0) // off
	DefaultPingType          = "ping"
	DefaultPongType          = "pong"
)

// Defaults for AuthConfig.
const (
	DefaultAuthMode        = AuthNone
	DefaultAuthHeader      = "Authorization"
	DefaultAuthScheme      = "Bearer"
	DefaultAuthTimeout     = 10 * time.Second
	DefaultAuthOnFailure   = OnFailureRetry
	DefaultAuthMessageType = "auth"
	DefaultAuthTokenField  = "token"
	DefaultAuthSuccessType = "auth_success"
	DefaultAuthFailureType = "auth_failed"
)

// Defaults for CursorConfig.
const (
	DefaultCursorSubscribeKey       = "since"
	DefaultCursorOnReset            = "accept"
	DefaultCursorResetWindow        = 10000
	DefaultCursorCheckpointInterval = 1 * time.Second
)

// Defaults for QueueConfig.
const (
	DefaultQueueMaxMessages = 10000
	DefaultQueueMaxBytes    = 16 * MiB
	DefaultQueueOverflow    = OverflowReject
	DefaultQueueTTL         = time.Duration(0) // never expire
	DefaultQueueDurable     = false
)

// Defaults for FallbackConfig.
const (
	DefaultFallbackInterval            = 5 * time.Second
	DefaultFallbackMaxInterval         = 60 * time.Second
	DefaultFallbackJitter              = JitterEqual
	DefaultFallbackTimeout             = 10 * time.Second
	DefaultFallbackCursorParam         = "since"
	DefaultFallbackShape               = "auto"
	DefaultFallbackRetryWebsocketEvery = 60 * time.Second
	DefaultFallbackPromoteAfter        = 10 * time.Second
)

// DefaultConfig is the configuration of an empty file: no sinks and no streams
// (Validate then rejects it, since at least one stream is required).
func DefaultConfig() Config {
	return Config{
		Daemon: DaemonConfig{
			LogLevel:        DefaultLogLevel,
			LogFormat:       DefaultLogFormat,
			StateDir:        DefaultStateDir,
			ShutdownTimeout: Duration{DefaultShutdownTimeout},
		},
		Control: ControlConfig{
			Listen:     DefaultControlListen,
			SocketMode: DefaultControlSocketMode,
			MaxBody:    DefaultControlMaxBody,
		},
	}
}

// DefaultSinkConfig is what every [[sink]] starts from before its keys are decoded.
// Timeout is left 0: Parse sets DefaultExecTimeout or DefaultWebhookTimeout by Kind
// when the key is absent.
func DefaultSinkConfig() SinkConfig {
	return SinkConfig{
		Buffer:     DefaultSinkBuffer,
		MaxRetries: DefaultSinkMaxRetries,
		Retry: BackoffConfig{
			InitialDelay: Duration{DefaultSinkRetryInitialDelay},
			MaxDelay:     Duration{DefaultSinkRetryMaxDelay},
			Multiplier:   DefaultSinkRetryMultiplier,
			Jitter:       DefaultSinkRetryJitter,
		},
		FlushInterval: Duration{DefaultFlushInterval},
		Fsync:         DefaultFsync,
		Mode:          DefaultExecMode,
		Concurrency:   DefaultConcurrency,
		BatchMax:      DefaultBatchMax,
		BatchWait:     Duration{DefaultBatchWait},

		UnhealthyAfter: Duration{DefaultUnhealthyAfter},
		NATSConnConfig: NATSConnConfig{
			URLs:           []string{DefaultNATSURL},
			ConnectionName: DefaultNATSConnectionName,
		},
		Subject:         DefaultNATSSubject,
		JetStream:       DefaultNATSJetStream,
		Storage:         DefaultNATSStorage,
		Replicas:        DefaultNATSReplicas,
		Retention:       DefaultNATSRetention,
		DuplicateWindow: Duration{DefaultNATSDuplicateWindow},
		MaxPending:      DefaultNATSMaxPending,
	}
}

// DefaultClusterConfig is what a [cluster] table starts from; Instance is filled in by the
// daemon when it is empty.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		NATSConnConfig: NATSConnConfig{
			URLs:           []string{DefaultNATSURL},
			ConnectionName: DefaultNATSConnectionName,
		},
		Bucket:   DefaultClusterBucket,
		LeaseTTL: Duration{DefaultClusterLeaseTTL},
		Slack:    DefaultClusterSlack,
		Replicas: DefaultClusterReplicas,
	}
}

// DefaultStreamConfig is what every [[stream]] starts from before its keys are decoded.
// Fallback stays nil; a [stream.fallback] table starts from DefaultFallbackConfig.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{
		ReadLimit:        DefaultReadLimit,
		MaxInflightBytes: DefaultMaxInflightBytes,
		HandshakeTimeout: Duration{DefaultHandshakeTimeout},
		WriteTimeout:     Duration{DefaultWriteTimeout},
		Compression:      DefaultCompression,
		Protocol:         DefaultProtocol,
		Framing:          FramingConfig{TypePath: DefaultTypePath},
		SocketIO: SocketIOConfig{Namespace: DefaultSocketIONamespace, Path: DefaultSocketIOPath,
			EmitEvent: DefaultSocketIOEmitEvent},
		Reconnect: ReconnectConfig{
			BackoffConfig: BackoffConfig{
				InitialDelay: Duration{DefaultInitialDelay},
				MaxDelay:     Duration{DefaultMaxDelay},
				Multiplier:   DefaultMultiplier,
				Jitter:       DefaultJitter,
			},
			MaxAttempts: DefaultMaxAttempts,
			StableAfter: Duration{DefaultStableAfter},
			MaxHint:     Duration{DefaultMaxHint},
		},
		Heartbeat: HeartbeatConfig{
			Mode:          DefaultHeartbeatMode,
			Interval:      Duration{DefaultHeartbeatInterval},
			Timeout:       Duration{DefaultHeartbeatTimeout},
			AnyFrameAlive: DefaultAnyFrameAlive,
			StaleAfter:    Duration{DefaultStaleAfter},
			PingType:      DefaultPingType,
			PongType:      DefaultPongType,
		},
		Auth: AuthConfig{
			Mode:        DefaultAuthMode,
			Header:      DefaultAuthHeader,
			Scheme:      DefaultAuthScheme,
			Timeout:     Duration{DefaultAuthTimeout},
			OnFailure:   DefaultAuthOnFailure,
			MessageType: DefaultAuthMessageType,
			TokenField:  DefaultAuthTokenField,
			SuccessType: DefaultAuthSuccessType,
			FailureType: DefaultAuthFailureType,
		},
		Cursor: CursorConfig{
			SubscribeKey:       DefaultCursorSubscribeKey,
			OnReset:            DefaultCursorOnReset,
			ResetWindow:        DefaultCursorResetWindow,
			CheckpointInterval: Duration{DefaultCursorCheckpointInterval},
		},
		Queue: QueueConfig{
			MaxMessages: DefaultQueueMaxMessages,
			MaxBytes:    DefaultQueueMaxBytes,
			Overflow:    DefaultQueueOverflow,
			TTL:         Duration{DefaultQueueTTL},
			Durable:     DefaultQueueDurable,
		},
	}
}

// DefaultFallbackConfig is what a [stream.fallback] table starts from. PollURL has no default.
func DefaultFallbackConfig() FallbackConfig {
	return FallbackConfig{
		Interval:            Duration{DefaultFallbackInterval},
		MaxInterval:         Duration{DefaultFallbackMaxInterval},
		Jitter:              DefaultFallbackJitter,
		Timeout:             Duration{DefaultFallbackTimeout},
		CursorParam:         DefaultFallbackCursorParam,
		Shape:               DefaultFallbackShape,
		RetryWebsocketEvery: Duration{DefaultFallbackRetryWebsocketEvery},
		PromoteAfter:        Duration{DefaultFallbackPromoteAfter},
	}
}
