package kube

// Shared is a watch that the run keeps for the tasks that read it at once
// or one after the other (e.g. a namespace's FailedCreatePodSandBox events,
// which every deploy task in it reads): one request instead of one per task.
type Shared interface {
	Stop()
	// Done is closed once the watch has ended (the API server may end it).
	Done() <-chan struct{}
}

// Share returns the run's shared watch under key, opened by open when
// there is none or the last one has ended. The run stops it at Close;
// release stops it when the run keeps nothing (nil Watches, or closed),
// else does nothing. open runs under a lock: tasks that start at once
// share the first one's watch.
func (w *Watches) Share(key string, open func() (Shared, error)) (s Shared, release func(), err error) {
	if w == nil {
		return openOwn(open)
	}
	w.smu.Lock()
	defer w.smu.Unlock()
	if w.sclosed {
		return openOwn(open)
	}
	if s := w.shared[key]; s != nil {
		select {
		case <-s.Done():
		default:
			return s, func() {}, nil
		}
	}
	if s, err = open(); err != nil {
		return nil, nil, err
	}
	if w.shared == nil {
		w.shared = map[string]Shared{}
	}
	w.shared[key] = s
	return s, func() {}, nil
}

func openOwn(open func() (Shared, error)) (Shared, func(), error) {
	s, err := open()
	if err != nil {
		return nil, nil, err
	}
	return s, s.Stop, nil
}

func (w *Watches) closeShared() {
	w.smu.Lock()
	defer w.smu.Unlock()
	for _, s := range w.shared {
		s.Stop()
	}
	w.shared, w.sclosed = nil, true
}
