// Preloaded into kinesis-local (node -r). Its runtime (cats-effect on Node) tells the time as
// performance.timeOrigin + performance.now(), a monotonic clock that time sync never corrects. On
// this machine the wall clock was stepped 9.7 s ahead of it within 20 minutes; from then on
// kinesis-local refused every AT_TIMESTAMP iterator a client asked for "now" as "in the future".
// Real Kinesis reads a synchronised wall clock; with this, kinesis-local reads the same one as its clients.
const { performance } = require('node:perf_hooks');

const origin = performance.timeOrigin;
performance.now = () => Date.now() - origin;
