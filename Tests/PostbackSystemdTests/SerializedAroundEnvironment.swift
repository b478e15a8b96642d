import Testing

/// Tests that set environment variables and tests that spawn processes run one at a time
/// under this suite: glibc's setenv may move the environment array while a spawning thread
/// copies it, so the two must not overlap.
@Suite(.serialized) enum SerializedAroundEnvironment {}
