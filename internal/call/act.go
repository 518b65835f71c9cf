package call

import "context"

// act runs a Graph action off the call's worker, so that the call's
// notifications are handled while Graph takes its time, and hands its
// outcome to the worker: then runs there, in order with the notifications
// that came meanwhile. Nothing runs then if the call has ended by then.
func (c *Call) act(action func(ctx context.Context), then func()) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), graphTimeout)
		defer cancel()
		action(ctx)
		queue := c.inbox.Load()
		if queue == nil {
			return // the worker has ended
		}
		select {
		case *queue <- work{fn: then}:
		case <-c.done:
		}
	}()
}
