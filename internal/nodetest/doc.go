// Package nodetest runs the Node.js consumer example (examples/node)
// against a real bot publishing to a real NATS server: the proof that a
// team outside Go can consume the stream from the README alone. Its test
// needs node, and npm with the registry reachable (or
// examples/node/node_modules installed); without them it is skipped,
// saying why.
package nodetest
