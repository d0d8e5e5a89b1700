// Command jsclient runs one JetStream scenario through the official Go client (nats.go's
// jetstream package) and prints what it observed as one JSON object. The pytest suite runs
// it against pynatsd and the reference server and compares; it is a test tool only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// quiet is how long a fetch that is expected to get nothing waits before the server ends it.
const quiet = time.Second

type result map[string]any

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: jsclient <url> <scenario>")
		os.Exit(2)
	}
	scenarios := map[string]func(context.Context, jetstream.JetStream) (result, error){
		"pinned":      pinned,
		"overflow":    overflow,
		"prioritized": prioritized,
	}
	run, ok := scenarios[os.Args[2]]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown scenario", os.Args[2])
		os.Exit(2)
	}
	nc, err := nats.Connect(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := run(ctx, js)
	if err != nil {
		fail(err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// stream makes stream PRI on pri.> holding n messages pri.0 .. pri.<n-1>.
func stream(ctx context.Context, js jetstream.JetStream, n int) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PRI", Subjects: []string{"pri.>"}})
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, fmt.Sprintf("pri.%d", i), []byte("x")); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// fetch takes up to n messages, acking each, and returns their subjects, the distinct
// Nats-Pin-Id values seen and the batch's error.
func fetch(c jetstream.Consumer, n int, wait time.Duration, opts ...jetstream.FetchOpt) ([]string, []string, error) {
	opts = append(opts, jetstream.FetchMaxWait(wait))
	b, err := c.Fetch(n, opts...)
	if err != nil {
		return nil, nil, err
	}
	subjects := []string{}
	pins := []string{}
	seen := map[string]bool{}
	for m := range b.Messages() {
		subjects = append(subjects, m.Subject())
		if pin := m.Headers().Get("Nats-Pin-Id"); !seen[pin] {
			seen[pin] = true
			pins = append(pins, pin)
		}
		if err := m.Ack(); err != nil {
			return nil, nil, err
		}
	}
	return subjects, pins, b.Error()
}

// pinned: the first client gets the pin, a second waits; after CONSUMER.UNPIN the second
// gets a new pin and the first is told its pin is stale.
func pinned(ctx context.Context, js jetstream.JetStream) (result, error) {
	s, err := stream(ctx, js, 10)
	if err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"A"},
		PinnedTTL: time.Minute,
	}
	first, err := s.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	second, err := s.Consumer(ctx, "C") // its own handle: its own pin
	if err != nil {
		return nil, err
	}
	group := jetstream.FetchPriorityGroup("A")
	got1, pins1, err1 := fetch(first, 3, 5*time.Second, group)
	got2, _, err2 := fetch(second, 3, quiet, group)
	info, err := first.Info(ctx)
	if err != nil {
		return nil, err
	}
	infoPin := ""
	if len(info.PriorityGroups) == 1 {
		infoPin = info.PriorityGroups[0].PinnedClientID
	}
	unpinErr := s.UnpinConsumer(ctx, "C", "A")
	got3, pins3, err3 := fetch(second, 3, 5*time.Second, group)
	got4, _, err4 := fetch(first, 1, quiet, group)
	return result{
		"first":              got1,
		"first_err":          errText(err1),
		"first_pins":         len(pins1),
		"first_pin_len":      len(pins1[0]),
		"waiting_client_got": got2,
		"info_pin_is_first":  len(pins1) == 1 && infoPin == pins1[0],
		"unpin_err":          errText(unpinErr),
		"after_unpin":        got3,
		"after_unpin_err":    errText(err3),
		"new_pin":            len(pins3) == 1 && pins3[0] != "" && pins3[0] != pins1[0],
		"stale_client_got":   got4,
		"stale_is_mismatch":  errors.Is(err4, jetstream.ErrPinIDMismatch),
		"waiting_client_err": errText(err2),
	}, nil
}

// overflow: requests are served only while the consumer has at least min_pending messages
// pending or min_ack_pending unacknowledged.
func overflow(ctx context.Context, js jetstream.JetStream) (result, error) {
	s, err := stream(ctx, js, 10)
	if err != nil {
		return nil, err
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"A"},
	})
	if err != nil {
		return nil, err
	}
	group := jetstream.FetchPriorityGroup("A")
	res := result{}
	res["min_pending_20"], _, _ = fetch(c, 5, quiet, group, jetstream.FetchMinPending(20))
	res["min_pending_5"], _, _ = fetch(c, 5, 5*time.Second, group, jetstream.FetchMinPending(5))
	// Hold three messages unacknowledged.
	b, err := c.Fetch(3, group, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		return nil, err
	}
	held := []string{}
	for m := range b.Messages() {
		held = append(held, m.Subject())
	}
	res["held"] = held
	res["min_ack_pending_5"], _, _ = fetch(c, 1, quiet, group, jetstream.FetchMinAckPending(5))
	res["min_ack_pending_3"], _, _ = fetch(c, 1, 5*time.Second, group, jetstream.FetchMinAckPending(3))
	return res, nil
}

// prioritized: with two requests waiting, the one of priority 0 gets the first message.
func prioritized(ctx context.Context, js jetstream.JetStream) (result, error) {
	s, err := stream(ctx, js, 0)
	if err != nil {
		return nil, err
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPrioritized, PriorityGroups: []string{"A"},
	})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	got := map[uint8][]string{}
	var mu sync.Mutex
	wait := func(n int) error { // until at least n requests wait on the consumer
		for {
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumWaiting >= n {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for i, prio := range []uint8{5, 0} {
		wg.Add(1)
		go func(prio uint8) {
			defer wg.Done()
			subjects, _, _ := fetch(c, 1, 20*time.Second, jetstream.FetchPriorityGroup("A"), jetstream.FetchPrioritized(prio))
			mu.Lock()
			got[prio] = subjects
			mu.Unlock()
		}(prio)
		if err := wait(i + 1); err != nil {
			return nil, err
		}
	}
	// Both messages at once: the first is for priority 0, the second (priority 0's request
	// being full) for priority 5.
	for i := 0; i < 2; i++ {
		if _, err := js.Publish(ctx, fmt.Sprintf("pri.%d", i), []byte("x")); err != nil {
			return nil, err
		}
	}
	wg.Wait()
	return result{"priority_0": got[0], "priority_5": got[5]}, nil
}
