package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Run runs the controllers until ctx ends, each time in a manager newManager builds. A
// controller-runtime manager stops for good when it loses the leader lease (an API server or
// etcd outage longer than the renew deadline does that); Run then logs it, waits retry and
// builds a new manager that campaigns again. It returns only when ctx ends, or with the error of
// newManager, so losing the lease never takes the admission server, which runs in a manager of
// its own, down with it.
func Run(ctx context.Context, newManager func() (manager.Manager, error), retry time.Duration, log logr.Logger) error {
	for {
		mgr, err := newManager()
		if err != nil {
			return err
		}
		err = mgr.Start(ctx)
		if ctx.Err() != nil {
			return nil
		}
		log.Error(err, "the controllers stopped; admission keeps serving; campaigning for the lease again", "retryIn", retry.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// Leading is a runnable that logs when this replica becomes the leader and starts the
// controllers, and when it stops leading.
type Leading struct{ Log logr.Logger }

// Start logs and waits for the end of the leadership.
func (l Leading) Start(ctx context.Context) error {
	l.Log.Info("leading: controllers running")
	<-ctx.Done()
	l.Log.Info("no longer leading: controllers stopped")
	return nil
}

// NeedLeaderElection runs it on the leader only.
func (Leading) NeedLeaderElection() bool { return true }

// SharedCache lets the controllers' manager read from the admission manager's cache instead of
// keeping a second copy of every StatefulSet, budget and node. The admission manager starts and
// stops the cache; Start here only waits, and when the controllers' manager stops it removes
// the event handlers its controllers added, so a manager rebuilt after a lost lease does not
// leave the old controllers' handlers behind.
type SharedCache struct {
	cache.Cache
	mu       sync.Mutex
	handlers []registration
	stopped  bool
}

type registration struct {
	informer cache.Informer
	reg      toolscache.ResourceEventHandlerRegistration
}

// NewSharedCache wraps a cache that another manager owns.
func NewSharedCache(c cache.Cache) *SharedCache { return &SharedCache{Cache: c} }

var _ cache.Cache = (*SharedCache)(nil)

// Start waits for ctx to end, then removes the handlers added through this wrapper.
func (s *SharedCache) Start(ctx context.Context) error {
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, h := range s.handlers {
		_ = h.informer.RemoveEventHandler(h.reg)
	}
	s.handlers = nil
	return nil
}

// GetInformer returns the shared informer, recording the handlers added to it.
func (s *SharedCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	inf, err := s.Cache.GetInformer(ctx, obj, opts...)
	if err != nil {
		return nil, err
	}
	return &trackedInformer{Informer: inf, owner: s}, nil
}

// GetInformerForKind returns the shared informer, recording the handlers added to it.
func (s *SharedCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	inf, err := s.Cache.GetInformerForKind(ctx, gvk, opts...)
	if err != nil {
		return nil, err
	}
	return &trackedInformer{Informer: inf, owner: s}, nil
}

func (s *SharedCache) track(inf cache.Informer, reg toolscache.ResourceEventHandlerRegistration, err error) (toolscache.ResourceEventHandlerRegistration, error) {
	if err != nil {
		return reg, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		_ = inf.RemoveEventHandler(reg)
		return reg, nil
	}
	s.handlers = append(s.handlers, registration{informer: inf, reg: reg})
	return reg, nil
}

type trackedInformer struct {
	cache.Informer
	owner *SharedCache
}

func (t *trackedInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := t.Informer.AddEventHandler(h)
	return t.owner.track(t.Informer, reg, err)
}

func (t *trackedInformer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := t.Informer.AddEventHandlerWithResyncPeriod(h, resync)
	return t.owner.track(t.Informer, reg, err)
}

func (t *trackedInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := t.Informer.AddEventHandlerWithOptions(h, o)
	return t.owner.track(t.Informer, reg, err)
}
