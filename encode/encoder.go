// Package encode is the worker's hot path, apart from the actor so that it can be measured and
// its allocations asserted: decode a RawBatch, validate, apply the denylist, route, shard, sort
// by (shard, series, timestamp) and encode remote-write series into ShardBatches for the writer
// that owns each shard (Layout). It holds no actor and allocates nothing in steady state.
package encode

import (
	"bytes"
	"slices"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/limits"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/relabel"
	"github.com/sluicehq/sluice/shed"
)

// entry is one valid datapoint on its way out: its shard, its series (an index into the batch's
// touched series), its sample and its arrival. It holds no pointer, so a batch's entries cost the garbage
// collector nothing and sorting them runs no write barrier.
type entry struct {
	shard  uint32
	series uint32
	seq    uint32
	hist   uint32 // a native histogram sample: 1 + its index in Encoder.hists; 0 for a float sample
	ts     int64
	value  float64
}

// histRef is where a native histogram sample's encoded Histogram is in Encoder.histBytes.
type histRef struct{ start, end uint32 }

// Verdicts of a series that is valid but goes nowhere (seriesInfo.route).
const (
	routeUnrouted    = -1
	routeDenylisted  = -2
	routeInvalid     = -3 // seriesInfo.reason says why
	routeRelabeled   = -4 // the input's relabel rules dropped it
	noSeries         = ^uint32(0)
	limitUnjudged    = -2 // seriesInfo.limitDrop of a series no budget has judged yet
	minSeriesSlots   = 1 << 10
	maxSeriesPerSlot = 2 // the table grows before it is more than half full
	// MaxCachedSeries bounds an encoder's series cache: past it, the cache starts afresh at the
	// next batch (about 300 bytes a series: key, labels, table slots).
	MaxCachedSeries = 1 << 15
)

// seriesInfo is what the encoder decided about one series, once for as long as it stays in the
// worker's series cache: whether it is valid, denylisted or routed, its shards (one per route
// target, in seriesShards) and its encoded remote-write label fields (in labels). Offsets, not
// slices: the cache holds no pointer.
type seriesInfo struct {
	key, keyEnd       uint32 // the identity key in Encoder.keys
	labels, labelsEnd uint32 // the label fields in Encoder.labels
	meta, metaEnd     uint32 // its metadata field in Encoder.labels, for 2.0 outputs (empty without)
	shards            uint32 // first of the series' shards in Encoder.seriesShards
	route             int32  // index of its route, or a route* verdict
	reason            messages.Reason
	// hash is the series' hash (the one shards are chosen by), the same on every task: limits
	// and shedding decide by it. budgets is the cardinality budgets it is subject to (a bit
	// each); limitEpoch the window its verdict limitDrop (-1: admitted, else the budget that
	// dropped it) was made in.
	hash       uint64
	budgets    uint64
	limitEpoch int64
	limitDrop  int32
	// batch is the last batch that touched the series, local its index in that batch's touched.
	batch, local uint32
	// relabeled: the input's rules changed the series' labels, so budgets judge it by its
	// encoded labels rather than by the tags its datapoints came in with.
	relabeled bool
}

// seriesRun counts one touched series' entries in the batch, for the counting sort.
type seriesRun struct{ count, placed uint32 }

// seriesSlot is one slot of the open-addressing table from identity hash to series. A slot is
// empty unless gen is the table's current generation, so starting a batch clears nothing.
type seriesSlot struct {
	hash   uint64
	gen    uint32
	series uint32
}

// BadLine is an unparseable (or otherwise rejected) line kept for the dead-letter topic: its
// bytes are copied into Encoder.badBytes, as the rows they came from are reused record by record.
type BadLine struct {
	start, end uint32
	Offset     int64 // of the record it came from
	Reason     messages.Reason
	Detail     string // static text
}

// Encoder is the worker's hot path, kept apart from the actor so that it can be measured
// and its allocations asserted: decode a RawBatch, validate, apply the denylist, shard, sort by
// (shard, series, timestamp) and encode remote-write series into ShardBatches. All its storage is
// reused from batch to batch.
//
// Each record is decoded into rows that are reset for the next record, so the only storage with
// pointers is one record's worth. What outlives the record is pointer-free: the series cache
// (each series judged, sharded and label-encoded once, then reused from batch to batch while
// the validator, denylist and mapping stay the same), one entry per datapoint, and copies of the
// bad lines.
type Encoder struct {
	mapping   formats.NameMapping
	validator *validate.Validator
	denylist  *glob.Matcher
	// topo routes each datapoint to its outputs and says which writer owns each shard.
	topo *Layout
	// onRecord, when set, sees each record's value before it is decoded (fault injection).
	onRecord func(value []byte)

	rows messages.Rows
	// decoding is the index of the record being decoded, -1 outside decoding.
	decoding int
	entries  []entry
	sorted   []entry
	start    []int // counting-sort bounds per shard (shards+1)
	cursor   int

	series       []seriesInfo
	slots        []seriesSlot
	gen          uint32   // the cache's generation: slots of another one are empty
	batch        uint32   // the batch's number, for seriesInfo.batch
	touched      []uint32 // the series the batch touched, by local index
	runs         []seriesRun
	keys         []byte   // identity keys of the cached series
	labels       []byte   // encoded label fields of the cached valid series
	seriesShards []uint32 // per valid series, one shard per route target
	// cachedFor is what the cached verdicts were made with; another validator or denylist (a
	// reload) starts the cache afresh.
	cachedValidator  *validate.Validator
	cachedDenylist   *glob.Matcher
	cachedLimits     *limits.Set
	cachedRelabeling *Relabeling
	// relabeling is the relabel rules (nil: none) and input the index of the input the loaded
	// batch came from; inRules are its rules, keyInput whether series keys start with the input
	// (when any input has rules, the same series may be relabeled differently per input).
	relabeling *Relabeling
	input      int
	// inputNonFinite is the loaded batch's input's own policy for NaN and ±Inf (nil: the
	// validator's); nonFinite the policy in force for the batch.
	inputNonFinite *bool
	nonFinite      bool
	inRules        *relabel.Rules
	keyInput       bool
	// aggregated: the loaded batch holds series the aggregation stage made, which no aggregate
	// takes again.
	aggregated bool
	// aggMaxTs is the newest timestamp of the loaded batch's datapoints bound for an aggregate
	// (0: none).
	aggMaxTs int64
	// rb applies input rules, orb output rules, to one series at a time; relabeled and outRows
	// hold the series they made. targetLabels is, when some output has rules, each series
	// target's labels (beside seriesShards); outDrops counts the loaded batch's datapoints each
	// output's rules dropped; admitTags are a relabeled series' tags for its budgets.
	rb, orb            relabel.Builder
	relabeled, outRows messages.Rows
	targetLabels       []labelRange
	outDrops           []int64
	admitTags          []messages.Tag
	// limits are the cardinality budgets (nil: none), limitEpoch the loaded batch's window,
	// limitDrops its datapoints dropped per budget.
	limits     *limits.Set
	limitEpoch int64
	limitDrops []int64
	// shed is the shedding state (nil: off); classes is each route's priority class, keep the
	// classes' keep thresholds for the loaded batch, offered and shedByRoute its counts.
	shed        *shed.State
	classes     []shed.Class
	keep        [shed.NumClasses]uint64
	offered     [shed.NumClasses]int64
	shedByRoute []int64
	key         []byte // the identity key being looked up
	// tagKey is the identity of lastTags, the tags of the datapoint added before: the fields of
	// one influx line (the samples of one remote-write series) share their tags, which are then
	// sorted and encoded once. Both are forgotten at every record, whose rows reuse the storage.
	tagKey   []byte
	lastTags []messages.Tag
	shardKey []byte // the shard.AppendSeriesKey of a new series
	mapped   messages.Rows

	// hists and histBytes hold the loaded batch's native histogram samples (copied, as the rows
	// they came from are reused record by record).
	hists     []histRef
	histBytes []byte

	bad      []BadLine
	badBytes []byte
	// drops and in count the loaded batch's drops by reason and its datapoints (lines) read.
	drops messages.DropCounts
	in    int64
}

// DecodeFunc decodes one Kafka record value into dst. recordTimestampMs is the record's Kafka
// timestamp, for formats whose lines may omit theirs.
type DecodeFunc func(dst *messages.Rows, record []byte, recordTimestampMs int64)

// New returns an encoder for the layout, applying mapping to metric and tag names. onRecord,
// when not nil, sees each record's value before it is decoded (fault injection).
func New(mapping formats.NameMapping, layout *Layout, onRecord func(value []byte)) *Encoder {
	return &Encoder{mapping: mapping, topo: layout, onRecord: onRecord, decoding: -1}
}

// Judge sets the validator and denylist the next batches are judged by; another one than
// before (a reload) starts the series cache afresh.
func (e *Encoder) Judge(v *validate.Validator, dl *glob.Matcher) { e.validator, e.denylist = v, dl }

// Aggregated says whether the next batches hold series the aggregation stage made (no aggregate
// takes them again). Their series are cached apart from the inputs' (Relabel's input index).
func (e *Encoder) Aggregated(yes bool) { e.aggregated = yes }

// NonFinite sets the next batches' input's own policy for NaN and ±Inf (nil: the validation
// block's).
func (e *Encoder) NonFinite(allow *bool) { e.inputNonFinite = allow }

// Limit sets the cardinality budgets (nil: none) and the shedding state (nil: off) with the
// routes' priority classes, for the next batches; other budgets (a reload) start the series
// cache afresh.
func (e *Encoder) Limit(l *limits.Set, s *shed.State, classes []shed.Class) {
	if l.Empty() {
		l = nil
	}
	e.limits, e.shed, e.classes = l, s, classes
}

// Decoding is the index in the loaded batch of the record being decoded, -1 outside decoding:
// after a panic in a decoder, the record that caused it.
func (e *Encoder) Decoding() int { return e.decoding }

// Counts returns the loaded batch's datapoints (lines) read and its drops by reason.
func (e *Encoder) Counts() (in int64, drops *messages.DropCounts) { return e.in, &e.drops }

// Bad returns the loaded batch's unparseable (and poisoned) lines, for the dead-letter topic;
// BadBytes(i) is line i's text.
func (e *Encoder) Bad() []BadLine { return e.bad }

// Load decodes, checks, shards and sorts every record of b with decode. nowMs bounds the
// timestamp window.
func (e *Encoder) Load(b *messages.RawBatch, decode DecodeFunc, nowMs int64) {
	e.Reset()
	e.drops = messages.DropCounts{}
	e.drops[messages.ReasonRecordTooLarge] = int64(b.Oversized)
	e.drops[messages.ReasonLineTooLong] = int64(b.LongLines)
	e.in = int64(b.Oversized + b.LongLines)
	e.startBatch()
	e.startLimits(nowMs)
	e.startRelabel()
	e.nonFinite = e.validator.AllowsNonFinite()
	if e.inputNonFinite != nil {
		e.nonFinite = *e.inputNonFinite
	}
	for i := 0; i < b.Len(); i++ {
		e.rows.Reset()
		e.lastTags = nil
		rec := b.Records[i]
		if len(b.Poisoned) > 0 && b.IsPoisoned(i) {
			e.rows.AddBad(b.Value(i), messages.ReasonPoison, b.PoisonError)
		} else {
			e.decoding = i // if decoding panics, the worker knows which record did it
			if e.onRecord != nil {
				e.onRecord(b.Value(i))
			}
			decode(&e.rows, b.Value(i), rec.Timestamp)
			e.decoding = -1
		}
		e.in += int64(len(e.rows.Points) + len(e.rows.Bad))
		for _, bad := range e.rows.Bad {
			e.drops[bad.Reason]++
			if bad.Reason == messages.ReasonUnparseable || bad.Reason == messages.ReasonPoison {
				start := len(e.badBytes)
				e.badBytes = append(e.badBytes, bad.Line...)
				e.bad = append(e.bad, BadLine{start: uint32(start), end: uint32(len(e.badBytes)), Offset: rec.Offset, Reason: bad.Reason, Detail: bad.Detail})
			}
		}
		for p := range e.rows.Points {
			e.add(&e.rows.Points[p], nowMs)
		}
	}
	e.rows.Reset()
	e.lastTags = nil
	e.endLimits()
	e.sortEntries()
}

// startLimits readies the loaded batch's budgets and shedding.
func (e *Encoder) startLimits(nowMs int64) {
	if e.limits != nil {
		e.limitEpoch = e.limits.Epoch(nowMs)
		e.limitDrops = slices.Grow(e.limitDrops[:0], e.limits.Len())[:e.limits.Len()]
		clear(e.limitDrops)
	}
	for c := range e.keep {
		e.keep[c] = shed.All
		if e.shed != nil {
			e.keep[c] = e.shed.Keep(shed.Class(c))
		}
	}
	e.offered = [shed.NumClasses]int64{}
	e.shedByRoute = slices.Grow(e.shedByRoute[:0], len(e.topo.Routes))[:len(e.topo.Routes)]
	clear(e.shedByRoute)
}

// endLimits hands the batch's counts to the budgets and the shedding state.
func (e *Encoder) endLimits() {
	if e.limits != nil {
		for i, n := range e.limitDrops {
			if n != 0 {
				e.limits.AddDropped(i, n)
			}
		}
	}
	if e.shed != nil {
		e.shed.Add(&e.offered, e.shedByRoute, e.classes)
	}
}

// classOf is route r's priority class.
func (e *Encoder) classOf(r int32) shed.Class {
	if int(r) < len(e.classes) {
		return e.classes[r]
	}
	return shed.Normal
}

// shedHash mixes a series hash into the one shedding decides by, so that the series a budget
// keeps (low hashes) are not also the ones shedding keeps.
func shedHash(h uint64) uint64 { return (h ^ 0x5851f42d4c957f2d) * 0x9e3779b97f4a7c15 }

// add judges one datapoint and appends its entries.
func (e *Encoder) add(dp *messages.Datapoint, nowMs int64) {
	maxTags := e.validator.MaxTags()
	if e.inRules != nil {
		maxTags = max(maxTags, relabelMaxTags)
	}
	if len(dp.Tags) > maxTags { // too many to sort: judged as they are
		reason, _ := e.validator.Check(dp, nowMs)
		e.drops[reason]++
		return
	}
	if !sameTags(dp.Tags, e.lastTags) {
		validate.SortTags(dp.Tags) // the identity of a series does not depend on its tags' order
		e.tagKey = appendTagsIdentity(e.tagKey[:0], dp.Tags)
		e.lastTags = dp.Tags
	}
	e.key = e.key[:0]
	if len(e.topo.Aggregates) > 0 { // an aggregate's series is routed apart from an input's
		e.key = append(e.key, b2u8(e.aggregated))
	}
	if e.keyInput {
		e.key = protowire.AppendVarint(e.key, uint64(e.input))
	}
	e.key = append(protowire.AppendBytes(e.key, dp.Metric), e.tagKey...)
	h := xxhash.Sum64(e.key)
	sid := e.lookup(h, e.key)
	if sid == noSeries {
		sid = e.newSeries(h, dp)
	}
	si := &e.series[sid]
	if si.batch != e.batch {
		si.batch, si.local = e.batch, uint32(len(e.touched))
		e.touched = append(e.touched, sid)
		e.runs = append(e.runs, seriesRun{})
	}
	if si.route < routeDenylisted {
		if si.route == routeRelabeled {
			e.drops[messages.ReasonRelabel]++
		} else {
			e.drops[si.reason]++
		}
		return
	}
	x := e.rows.ExtraOf(dp)
	value := dp.Value
	if x != nil && x.Histogram != nil {
		value = 0 // a histogram's sample has no value of its own to check
	}
	if reason, ok := e.validator.CheckSampleAllowing(dp.Timestamp, value, nowMs, e.nonFinite); !ok {
		e.drops[reason]++
		return
	}
	// A staleness marker ends its series in the TSDB: neither budgets nor shedding drop it.
	stale := messages.IsStaleNaN(value)
	switch si.route {
	case routeDenylisted:
		e.drops[messages.ReasonDenylisted]++
		return
	case routeUnrouted:
		e.drops[messages.ReasonUnrouted]++
		return
	}
	if si.budgets != 0 && e.limits != nil {
		if si.limitEpoch != e.limitEpoch || si.limitDrop == limitUnjudged {
			tags := dp.Tags
			if si.relabeled {
				tags = e.seriesTags(si)
			}
			si.limitDrop = int32(e.limits.Admit(si.budgets, si.hash, tags, e.limitEpoch))
			si.limitEpoch = e.limitEpoch
		}
		if si.limitDrop >= 0 && !stale {
			e.drops[messages.ReasonCardinality]++
			e.limitDrops[si.limitDrop]++
			return
		}
	}
	class := e.classOf(si.route)
	e.offered[class]++
	if k := e.keep[class]; k != shed.All && shedHash(si.hash) >= k && !stale {
		e.drops[messages.ReasonShed]++
		e.shedByRoute[si.route]++
		return
	}
	hist := uint32(0)
	if x != nil && x.Histogram != nil {
		start := len(e.histBytes)
		e.histBytes = append(e.histBytes, x.Histogram...)
		e.hists = append(e.hists, histRef{start: uint32(start), end: uint32(len(e.histBytes))})
		hist = uint32(len(e.hists))
	}
	// One entry per output the route names: a double-written datapoint is encoded for each. A
	// native histogram goes only to outputs that speak remote write 2.0.
	for k, t := range e.topo.Routes[si.route].Targets {
		if hist != 0 && !t.Native {
			e.drops[messages.ReasonUnsupported]++
			continue
		}
		sh := e.seriesShards[int(si.shards)+k]
		if sh == droppedShard {
			e.outDrops[t.Output]++
			continue
		}
		if t.Aggregate != 0 && dp.Timestamp > e.aggMaxTs {
			e.aggMaxTs = dp.Timestamp
		}
		e.entries = append(e.entries, entry{shard: sh, series: si.local,
			seq: uint32(len(e.entries)), hist: hist, ts: dp.Timestamp, value: dp.Value})
		e.runs[si.local].count++
	}
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// A series' identity key is its name and then its tags (sorted), every name and value
// length-prefixed, so that no two series share one whatever bytes they hold.
func appendTagsIdentity(dst []byte, tags []messages.Tag) []byte {
	for _, t := range tags {
		dst = protowire.AppendBytes(dst, t.Key)
		dst = protowire.AppendBytes(dst, t.Value)
	}
	return dst
}

// sameTags reports whether a and b are the same slice of the rows' tag pool (not merely equal).
func sameTags(a, b []messages.Tag) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}

// startBatch starts a batch, and the series cache afresh when it is full or its verdicts were
// made with another validator or denylist.
func (e *Encoder) startBatch() {
	e.batch++
	e.touched, e.runs = e.touched[:0], e.runs[:0]
	if len(e.slots) > 0 && len(e.series) <= MaxCachedSeries && e.batch != 0 &&
		e.cachedValidator == e.validator && e.cachedDenylist == e.denylist && e.cachedLimits == e.limits &&
		e.cachedRelabeling == e.relabeling {
		return
	}
	e.cachedValidator, e.cachedDenylist, e.cachedLimits, e.cachedRelabeling = e.validator, e.denylist, e.limits, e.relabeling
	e.series, e.keys, e.labels, e.seriesShards = e.series[:0], e.keys[:0], e.labels[:0], e.seriesShards[:0]
	e.targetLabels = e.targetLabels[:0]
	if len(e.slots) == 0 {
		e.slots = make([]seriesSlot, minSeriesSlots)
	}
	e.gen++
	if e.gen == 0 || e.batch == 0 { // wrapped: stale slots or series could look current
		clear(e.slots)
		e.gen, e.batch = 1, 1
	}
}

// lookup returns the series with identity key and hash h, or noSeries.
func (e *Encoder) lookup(h uint64, key []byte) uint32 {
	mask := uint64(len(e.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &e.slots[i]
		if s.gen != e.gen {
			return noSeries
		}
		if s.hash == h {
			si := &e.series[s.series]
			if bytes.Equal(e.keys[si.key:si.keyEnd], key) {
				return s.series
			}
		}
	}
}

// insert puts series sid with hash h in the table, growing it first when it would be more than
// half full.
func (e *Encoder) insert(h uint64, sid uint32) {
	if len(e.series)*maxSeriesPerSlot > len(e.slots) {
		old := e.slots
		e.slots = make([]seriesSlot, 2*len(old))
		for _, s := range old {
			if s.gen == e.gen {
				e.place(s)
			}
		}
	}
	e.place(seriesSlot{hash: h, gen: e.gen, series: sid})
}

func (e *Encoder) place(s seriesSlot) {
	mask := uint64(len(e.slots) - 1)
	for i := s.hash & mask; ; i = (i + 1) & mask {
		if e.slots[i].gen != e.gen {
			e.slots[i] = s
			return
		}
	}
}

// newSeries judges the series of dp (its identity key is in e.key), once per batch: validity,
// denylist, route, shards and encoded labels.
func (e *Encoder) newSeries(h uint64, dp *messages.Datapoint) uint32 {
	sid := uint32(len(e.series))
	si := seriesInfo{key: uint32(len(e.keys)), route: routeInvalid}
	e.keys = append(e.keys, e.key...)
	si.keyEnd = uint32(len(e.keys))
	if e.inRules != nil {
		relabeled, keep := e.relabelInput(dp)
		if !keep {
			si.route = routeRelabeled
			e.series = append(e.series, si)
			e.insert(h, sid)
			return sid
		}
		dp, si.relabeled = relabeled, true
	}
	switch reason, ok := e.validator.CheckSeries(dp); {
	case !ok:
		si.reason = reason
	case e.denylist.Match(dp.Metric):
		si.route = routeDenylisted
	default:
		si.route = int32(e.topo.RouteIndex(dp.Metric, e.aggregated))
		if si.route == routeUnrouted {
			break
		}
		named := e.applyMapping(dp)
		e.shardKey = shard.AppendSeriesKey(e.shardKey[:0], named)
		sh := shard.Hash(e.shardKey)
		si.hash, si.limitDrop = sh, limitUnjudged
		if e.limits != nil {
			si.budgets = e.limits.Matching(named.Metric)
		}
		si.labels = uint32(len(e.labels))
		e.labels = remotewrite.AppendLabels(e.labels, named.Metric, named.Tags)
		si.labelsEnd = uint32(len(e.labels))
		si.meta = si.labelsEnd
		if x := e.rows.ExtraOf(dp); x != nil && x.HasMetadata() {
			e.labels = remotewrite.AppendMetadata(e.labels, x.Type, x.Unit, x.Help)
		}
		si.metaEnd = uint32(len(e.labels))
		si.shards = uint32(len(e.seriesShards))
		for _, t := range e.topo.Routes[si.route].Targets {
			e.target(t, named, sh, labelRange{si.labels, si.labelsEnd})
		}
	}
	e.series = append(e.series, si)
	e.insert(h, sid)
	return sid
}

// applyMapping returns dp with the output's name mapping applied: dp itself when names are kept,
// else a copy (dp's bytes may be shared with other datapoints of its line), its tags sorted again
// as mapping can change their order.
func (e *Encoder) applyMapping(dp *messages.Datapoint) *messages.Datapoint {
	if e.mapping == formats.MappingKeep {
		return dp
	}
	m := &e.mapped
	m.Reset()
	mark := m.TagsMark()
	for _, t := range dp.Tags {
		m.AddTag(m.Append(t.Key), t.Value)
	}
	out := m.NextPoint()
	out.Metric, out.Tags = m.Append(dp.Metric), m.TagsSince(mark)
	e.mapping.Apply(out)
	validate.SortTags(out.Tags)
	return out
}

// AggregateMaxTs is the newest timestamp (ms) of the loaded batch's datapoints bound for an
// aggregate, 0 when none was.
func (e *Encoder) AggregateMaxTs() int64 { return e.aggMaxTs }

// Reset forgets the loaded batch (the series cache stays).
func (e *Encoder) Reset() {
	e.aggMaxTs = 0
	e.rows.Reset()
	e.entries = e.entries[:0]
	e.cursor = 0
	e.bad = e.bad[:0]
	e.badBytes = e.badBytes[:0]
	e.hists, e.histBytes = e.hists[:0], e.histBytes[:0]
}
