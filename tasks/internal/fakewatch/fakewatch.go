// Package fakewatch lets unit tests act once a watch on a fake clientset is
// open, instead of sleeping and hoping it is: a change made after Opened
// fires reaches the watch, never only the list before it.
package fakewatch

import (
	"sync"

	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"
)

// Fake is a fake clientset: kubernetes/fake's or dynamic/fake's.
type Fake interface {
	PrependWatchReactor(resource string, reaction clienttesting.WatchReactionFunc)
	Tracker() clienttesting.ObjectTracker
}

// Opened returns a channel closed once the first watch of resource
// ("pods", "deployments") on c is registered with c's tracker.
func Opened(c Fake, resource string) <-chan struct{} {
	opened := make(chan struct{})
	var once sync.Once
	c.PrependWatchReactor(resource, func(a clienttesting.Action) (bool, watch.Interface, error) {
		wa, ok := a.(clienttesting.WatchActionImpl)
		if !ok {
			return false, nil, nil
		}
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), wa.ListOptions)
		if err != nil {
			return true, nil, err
		}
		once.Do(func() { close(opened) })
		return true, w, nil
	})
	return opened
}
