package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/netutil"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Defaults of the admission server's limits. Together they bound the memory that admission can
// take, whoever sends the requests: port 9443 has to accept traffic from anywhere (the API
// server's source address is not known in advance), so any pod in the cluster can reach it.
const (
	// DefaultMaxInFlight is how many small reviews (at most SmallBodyBytes) are decided at once.
	DefaultMaxInFlight = 32
	// DefaultMaxLargeInFlight is how many large reviews (over SmallBodyBytes, or of unknown
	// length) are read and decided at once. They are rare (an object near etcd's size limit)
	// and cost up to MaxBodyBytes each, several times over once decoded, so few share memory;
	// and small reviews never wait behind them.
	DefaultMaxLargeInFlight = 2
	// SmallBodyBytes is the largest review counted as small. The largest StatefulSet of the
	// test corpus makes a review of about 10 KiB.
	SmallBodyBytes = 256 << 10
	// DefaultMaxQueueWait is the longest a review waits for its turn. It also waits no longer
	// than two thirds of the API server's timeout, so that it still has time to be decided.
	DefaultMaxQueueWait = 10 * time.Second
	// DefaultMaxConnections caps open connections (idle keep-alive ones included). The API
	// servers need a few each.
	DefaultMaxConnections = 1024
)

// ServerOptions configure the admission server. Zero values take the defaults above.
type ServerOptions struct {
	// Host and Port to listen on.
	Host string
	Port int
	// TLSOpts adjust the TLS configuration; one of them must set GetCertificate.
	TLSOpts []func(*tls.Config)
	// MaxInFlight and MaxLargeInFlight bound the reviews decided at once (see the defaults).
	MaxInFlight, MaxLargeInFlight int
	// MaxBodyBytes is the largest review accepted; larger ones get 413 before being read.
	MaxBodyBytes int64
	// MaxQueueWait is the longest a review waits for a free slot before it gets 429.
	MaxQueueWait time.Duration
	// MaxConnections caps open connections.
	MaxConnections int
	// ReadHeaderTimeout bounds the TLS handshake and the request headers; BodyReadTimeout the
	// body, counted from when the review gets its slot; WriteTimeout the whole exchange from
	// the headers on (queueing, reading, deciding, answering); IdleTimeout a kept-alive
	// connection without requests.
	ReadHeaderTimeout, BodyReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Log receives the server's errors.
	Log logr.Logger
	// Metrics, when set, records requests in flight and those turned away.
	Metrics *Metrics
}

func (o *ServerOptions) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxLargeInFlight <= 0 {
		o.MaxLargeInFlight = DefaultMaxLargeInFlight
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = MaxBodyBytes
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	def(&o.MaxQueueWait, DefaultMaxQueueWait)
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.BodyReadTimeout, 10*time.Second)
	// The API server waits at most 30 s for a webhook; past that nobody reads the answer.
	def(&o.WriteTimeout, 35*time.Second)
	def(&o.IdleTimeout, 90*time.Second)
}

// Server is the admission server: controller-runtime's webhook.Server, with the limits it
// lacks. controller-runtime's server has no read or write timeout and no bound on concurrent
// requests, so a few dozen large reviews sent at once could exhaust its memory; this one
// bounds them (see ServerOptions), answers the excess fast, and never makes a small review
// wait behind a large one.
type Server struct {
	opts    ServerOptions
	mux     *http.ServeMux
	limiter *Limiter
	started atomic.Bool
}

var _ crwebhook.Server = (*Server)(nil)

// NewServer returns an admission server; register the endpoints, then Start it.
func NewServer(o ServerOptions) *Server {
	o.defaults()
	return &Server{opts: o, mux: http.NewServeMux(), limiter: NewLimiter(o)}
}

// NeedLeaderElection is false: every replica serves admission.
func (*Server) NeedLeaderElection() bool { return false }

// Register serves hook at path, behind the server's limits.
func (s *Server) Register(path string, hook http.Handler) { s.mux.Handle(path, s.limiter.Wrap(hook)) }

// WebhookMux returns the server's mux. Handlers registered on it directly bypass the limits.
func (s *Server) WebhookMux() *http.ServeMux { return s.mux }

// StartedChecker is healthy once the server listens. It does not dial the server: under load
// a probe that queues behind reviews would take the replica out of the Service just when it
// is needed.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if !s.started.Load() {
			return errors.New("the admission server has not started yet")
		}
		return nil
	}
}

// HTTPServer returns the http.Server that Start runs, with the timeouts applied.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		// ReadTimeout also bounds the body, but it is counted from the headers, before the
		// review waits for its slot: keep it above the longest wait, and bound the body
		// itself from the slot on (BodyReadTimeout).
		ReadTimeout:    s.opts.WriteTimeout,
		WriteTimeout:   s.opts.WriteTimeout,
		IdleTimeout:    s.opts.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		// Handshake failures and broken connections are the clients' doing; keep them out of
		// the error log, where an attacker could flood it.
		ErrorLog: log.New(logWriter{s.opts.Log.V(2)}, "", 0),
	}
}

// Listen opens the server's TLS listener, capped at MaxConnections.
func (s *Server) Listen() (net.Listener, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	for _, f := range s.opts.TLSOpts {
		f(cfg)
	}
	if cfg.GetCertificate == nil && len(cfg.Certificates) == 0 {
		return nil, errors.New("the admission server has no certificate: set GetCertificate in a TLS option")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)))
	if err != nil {
		return nil, err
	}
	return tls.NewListener(netutil.LimitListener(l, s.opts.MaxConnections), cfg), nil
}

// Start serves until ctx ends, then drains the requests in flight.
func (s *Server) Start(ctx context.Context) error {
	l, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends, then drains the requests in flight.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := s.HTTPServer()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.opts.Log.Error(err, "shutting down the admission server")
		}
	}()
	s.opts.Log.Info("serving admission", "address", l.Addr().String(), "maxInFlight", s.opts.MaxInFlight,
		"maxLargeInFlight", s.opts.MaxLargeInFlight, "maxBodyBytes", s.opts.MaxBodyBytes)
	s.started.Store(true)
	err := srv.Serve(l)
	s.started.Store(false)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	wg.Wait()
	return err
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "error", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Limiter bounds the reviews decided at once. A review waits for a slot in its pool (small or
// large, by its declared length) until its queueing deadline, then gets 429 Too Many Requests
// with Retry-After; a review declared larger than the body cap gets 413 without being read.
// The API server treats either as a failed call and applies the webhook's failurePolicy.
type Limiter struct {
	small, large chan struct{}
	opts         ServerOptions
}

// NewLimiter returns a limiter with the options' bounds (zero values take the defaults).
func NewLimiter(o ServerOptions) *Limiter {
	o.defaults()
	return &Limiter{small: make(chan struct{}, o.MaxInFlight), large: make(chan struct{}, o.MaxLargeInFlight), opts: o}
}

// Wrap puts h behind the limiter. It also bounds h by the API server's deadline (the timeout
// query parameter), counted from the review's arrival rather than from its turn.
func (l *Limiter) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		if r.ContentLength > l.opts.MaxBodyBytes {
			l.reject("too-large")
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body of %d bytes is over the %d-byte limit", r.ContentLength, l.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		ctx := r.Context()
		wait := l.opts.MaxQueueWait
		if d, ok := apiServerTimeout(r); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, arrived.Add(d))
			defer cancel()
			wait = min(wait, d*2/3)
		}
		pool := l.small
		if r.ContentLength < 0 || r.ContentLength > SmallBodyBytes {
			pool = l.large
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case pool <- struct{}{}:
		case <-timer.C:
			l.reject("busy")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "stowage is answering as many admission reviews as it allows; retry shortly", http.StatusTooManyRequests)
			return
		case <-ctx.Done():
			l.reject("gone")
			http.Error(w, "the review's deadline passed while it waited for its turn", http.StatusServiceUnavailable)
			return
		}
		defer func() { <-pool }()
		if l.opts.Metrics != nil {
			l.opts.Metrics.inFlight.Inc()
			defer l.opts.Metrics.inFlight.Dec()
		}
		// The body is read now; a sender that trickles it keeps its slot no longer than this.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(l.opts.BodyReadTimeout))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (l *Limiter) reject(reason string) {
	if l.opts.Metrics != nil {
		l.opts.Metrics.rejected.WithLabelValues(reason).Inc()
	}
}

// apiServerTimeout reads the API server's timeout query parameter ("3s"), which it sends with
// every call to a webhook.
func apiServerTimeout(r *http.Request) (time.Duration, bool) {
	t := r.URL.Query().Get("timeout")
	if t == "" {
		return 0, false
	}
	d, err := time.ParseDuration(t)
	return d, err == nil && d > 0
}
