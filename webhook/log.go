package webhook

import (
	"sync"

	"github.com/go-logr/logr"
)

// withRequestValues is log with a request's values (uid, kind, namespace, name, operation),
// added only when something is logged. zap encodes a logger's values when they are added, which
// cost every request about 12 µs (3% of the handler's CPU) though most log nothing.
func withRequestValues(log logr.Logger, values ...any) logr.Logger {
	if log.GetSink() == nil {
		return log // logr.Discard
	}
	if _, ok := log.GetSink().(logr.CallDepthLogSink); !ok {
		// Without call depth the wrapper's frame would be reported as the caller (as with
		// controller-runtime's delegating logger before SetLogger): add them now instead.
		return log.WithValues(values...)
	}
	return logr.New(&lazyValues{parent: log.GetSink(), values: values}).V(log.GetV())
}

// lazyValues is a LogSink that adds its values to its parent on first use.
type lazyValues struct {
	parent logr.LogSink
	values []any
	once   sync.Once
	built  logr.LogSink
}

var _ logr.CallDepthLogSink = (*lazyValues)(nil)

// sink is the parent with the values, and one more frame of call depth for this wrapper, so
// that the caller a line reports is the one that logged.
func (l *lazyValues) sink() logr.LogSink {
	l.once.Do(func() { l.built = withCallDepth(l.parent, 1).WithValues(l.values...) })
	return l.built
}

// Init does nothing: the parent was initialised by the logger it came from.
func (l *lazyValues) Init(logr.RuntimeInfo) {}

func (l *lazyValues) Enabled(level int) bool { return l.parent.Enabled(level) }

func (l *lazyValues) Info(level int, msg string, keysAndValues ...any) {
	l.sink().Info(level, msg, keysAndValues...)
}

func (l *lazyValues) Error(err error, msg string, keysAndValues ...any) {
	l.sink().Error(err, msg, keysAndValues...)
}

func (l *lazyValues) WithValues(keysAndValues ...any) logr.LogSink {
	return l.unwrapped().WithValues(keysAndValues...)
}

func (l *lazyValues) WithName(name string) logr.LogSink { return l.unwrapped().WithName(name) }

func (l *lazyValues) WithCallDepth(depth int) logr.LogSink {
	return &lazyValues{parent: withCallDepth(l.parent, depth), values: l.values}
}

// unwrapped is the parent with the values, without the wrapper's frame: what a derived logger
// logs through directly.
func (l *lazyValues) unwrapped() logr.LogSink { return l.parent.WithValues(l.values...) }

func withCallDepth(s logr.LogSink, depth int) logr.LogSink {
	if cd, ok := s.(logr.CallDepthLogSink); ok {
		return cd.WithCallDepth(depth)
	}
	return s
}
