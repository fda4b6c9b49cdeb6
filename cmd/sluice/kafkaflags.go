package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
)

// toolKafkaVersion is the protocol version a tool speaks when -brokers alone names the cluster:
// old enough for any broker Sluice supports, new enough for headers and record batches. With
// -config, the kafka block's version is used.
var toolKafkaVersion = sarama.V2_1_0_0

// kafkaFlags is how every subcommand that talks to Kafka reaches it: -config FILE, the config
// the tasks run (its kafka block: brokers, version, TLS, SASL), or -brokers, a shorthand for an
// unsecured cluster (with -config, it replaces the file's brokers).
type kafkaFlags struct {
	cmd     string
	config  *string
	brokers *string
	// cfg is the loaded config file (nil without -config); kafka what the client uses.
	cfg   *config.Config
	kafka *config.Kafka
}

func addKafkaFlags(fs *flag.FlagSet, cmd string) *kafkaFlags {
	return &kafkaFlags{cmd: cmd,
		config:  fs.String("config", "", "the config file whose kafka block (brokers, version, tls, sasl) to connect with"),
		brokers: fs.String("brokers", "", "comma-separated host:port list of an unsecured cluster (default 127.0.0.1:9092; with -config, replaces its brokers)"),
	}
}

// resolve loads -config (printing its diagnostics) and settles the Kafka settings.
func (k *kafkaFlags) resolve(stderr io.Writer) bool {
	if *k.config != "" {
		cfg, ok := loadConfig(*k.config, stderr)
		if !ok {
			return false
		}
		k.cfg = cfg
		kc := *cfg.Kafka
		k.kafka = &kc
	} else {
		kc := *config.Default().Kafka
		kc.KafkaVersion = toolKafkaVersion
		k.kafka = &kc
	}
	if *k.brokers != "" {
		var bs []string
		for b := range strings.SplitSeq(*k.brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				bs = append(bs, b)
			}
		}
		k.kafka.Brokers = bs
	}
	return true
}

// saramaConfig is the client configuration the tool starts from (kafkaio.ClientConfig).
func (k *kafkaFlags) saramaConfig() *sarama.Config { return kafkaio.ClientConfig(k.kafka) }

// client connects; on failure it prints which brokers and why, with the SASL hint, and returns
// nil.
func (k *kafkaFlags) client(sc *sarama.Config, stderr io.Writer) sarama.Client {
	c, err := sarama.NewClient(k.kafka.Brokers, sc)
	if err != nil {
		k.fail(stderr, err)
		return nil
	}
	return c
}

// fail prints a failed connection's error: the brokers, the cause, and what to check.
func (k *kafkaFlags) fail(stderr io.Writer, err error) {
	how := "no TLS or SASL (-config FILE uses a config's kafka block)"
	if k.cfg != nil {
		how = "the kafka block of " + *k.config
	}
	fmt.Fprintf(stderr, "sluice %s: cannot reach Kafka at %s with %s: %v%s\n",
		k.cmd, strings.Join(k.kafka.Brokers, ","), how, err, kafkaio.AuthHint(k.kafka, err))
}
