package actors

import (
	"slices"
	"sync"

	"github.com/IBM/sarama"
)

// missingTopics are the input topics the brokers say do not exist. The readers keep retrying
// their group (a topic may be created later); what a user sees is one warning when a topic is
// found missing, one line when it appears, and the list in /readyz, the progress line and
// sluice_input_topic_missing — not an error a retry.
type missingTopics struct {
	mu     sync.Mutex
	topics map[string]bool
}

// report records topics as missing and returns those that were not already.
func (m *missingTopics) report(topics []string) (fresh []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.topics == nil {
		m.topics = map[string]bool{}
	}
	for _, t := range topics {
		if !m.topics[t] {
			m.topics[t] = true
			fresh = append(fresh, t)
		}
	}
	return fresh
}

// found records topics as existing and returns those that were missing.
func (m *missingTopics) found(topics []string) (were []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		if m.topics[t] {
			delete(m.topics, t)
			were = append(were, t)
		}
	}
	return were
}

// list is the missing topics, sorted.
func (m *missingTopics) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.topics))
	for t := range m.topics {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// absent returns the topics of want that the brokers do not list (after a metadata refresh of
// every topic; nil when the refresh itself fails).
func absent(client sarama.Client, want []string) []string {
	if err := client.RefreshMetadata(); err != nil {
		return nil
	}
	have, err := client.Topics()
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range want {
		if !slices.Contains(have, t) {
			out = append(out, t)
		}
	}
	return out
}
