package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
)

// consumeEnv makes the peers binary a bare consumer: "broker topic group". It is the ceiling of
// the consume side — Sluice's own sarama configuration (kafkaio.ConsumerConfig with the default
// kafka block: fetch size, channel buffer, commit interval), as many group members as Sluice has
// readers, each message marked and committed and nothing else done with it.
const consumeEnv = "SLUICE_PEERS_CONSUME"

// bareConsume runs the bare consumer until SIGTERM.
func bareConsume(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return fmt.Errorf("%s=%q: want \"broker topic group\"", consumeEnv, spec)
	}
	// The settings `sluice run` takes for a config naming only the broker, input and group.
	cfg, err := config.Load("bare.hcl", fmt.Appendf(nil, "kafka {\n  brokers = [%q]\n}\ninput \"influx\" {\n  topics = [%q]\n  group = %q\n}\noutput \"kafka\" \"unused\" {\n  topic = \"unused\"\n}\n", f[0], f[1], f[2]))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	readers := cfg.Pipeline.Readers
	var wg sync.WaitGroup
	errc := make(chan error, readers)
	for r := range readers {
		sc := kafkaio.ConsumerConfig(cfg.Kafka, r)
		sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		group, err := sarama.NewConsumerGroup(cfg.Kafka.Brokers, f[2], sc)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer group.Close()
			go func() {
				for range group.Errors() {
				}
			}()
			for ctx.Err() == nil {
				if err := group.Consume(ctx, []string{f[1]}, markAll{}); err != nil && ctx.Err() == nil {
					errc <- err
					return
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		stop()
		wg.Wait()
		return err
	}
	wg.Wait()
	return nil
}

// markAll marks every message it is given; the group's auto-commit commits the marks.
type markAll struct{}

func (markAll) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (markAll) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (markAll) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
	}
	return nil
}

// saramaConsume runs the peers binary itself as the bare consumer of the input.
func (b *bench) saramaConsume(round int) (result, error) {
	group := fmt.Sprintf("peers-sarama-consume-%d", round)
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	p, err := b.startProc(group, []string{consumeEnv + "=" + b.addr + " " + inTopic + " " + group}, self)
	if err != nil {
		return result{}, err
	}
	res, err := b.waitCommitted(p, group)
	p.stop(30 * time.Second)
	// It delivers nothing anywhere: what it committed is what it read.
	res.Delivered = b.datapoints()
	return res, err
}
