// Package messages holds Sluice's data model and the batches that flow between actors.
//
// Memory rules (docs/architecture.md):
//   - every batch comes from a fixed-size Pool created at start-up and is reused forever;
//   - exactly one actor owns a batch at a time: sending it hands it over, and nobody touches a
//     batch after sending it;
//   - the last owner calls Release, which resets the batch and returns it to its pool.
//
// The pools are the backpressure and the memory bound: a reader that cannot get a RawBatch stops
// fetching until a worker releases one.
//
// No type here has a GetMessages method: protoactor treats such messages as batches and would
// deliver them twice.
package messages
