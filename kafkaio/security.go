// Package kafkaio holds how Sluice talks to Kafka, apart from the actors that do: the sarama
// configurations of the group members and producers (timeouts, fetch sizes, idempotence), TLS
// and SASL, and the hint an authentication failure gets.
package kafkaio

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/sluicehq/sluice/config"
)

// Secure applies kafka { tls, sasl } to a client config: every connection the pipeline
// opens (group members, producers, the admin checks at start) goes through it.
func Secure(c *sarama.Config, k *config.Kafka) {
	if k.TLS != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = k.TLS.Config.Clone()
	}
	if s := k.SASL; s != nil {
		c.Net.SASL.Enable = true
		c.Net.SASL.Handshake = true
		c.Net.SASL.User = s.Username
		c.Net.SASL.Password = s.Password
		c.Net.SASL.Mechanism = sarama.SASLMechanism(s.Mechanism) // sarama's names are Kafka's
		if s.Mechanism != sarama.SASLTypePlaintext {
			mechanism := s.Mechanism
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(mechanism) }
		}
	}
}

// newSCRAMClient is sarama's SCRAM conversation for mechanism ("SCRAM-SHA-256" or
// "SCRAM-SHA-512") over github.com/xdg-go/scram.
func newSCRAMClient(mechanism string) sarama.SCRAMClient {
	if mechanism == sarama.SASLTypeSCRAMSHA256 {
		return &scramClient{hash: scram.SHA256}
	}
	return &scramClient{hash: scram.SHA512}
}

type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }

// AuthHint explains a failed first connection when kafka.sasl is set: a real broker answers a
// wrong password with SASL_AUTHENTICATION_FAILED, but some (and proxies) just close the
// connection, which sarama reports as EOF.
func AuthHint(k *config.Kafka, err error) string {
	if k.SASL == nil {
		return ""
	}
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
		return fmt.Sprintf(" (SASL %s login as %q failed or was refused: check kafka.sasl's username, password and mechanism)",
			k.SASL.Mechanism, k.SASL.Username)
	}
	return ""
}
