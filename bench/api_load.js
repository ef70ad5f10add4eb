// Drives the GraphQL API with autocannon: a rotation of requests per connection, one run, JSON on stdout.
// Usage: node api_load.js CONFIG.json   (written by bench_api.py: url, connections, duration, requests)
'use strict'

const fs = require('fs')
const autocannon = require('autocannon')

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
let sequence = 0

// Each request may pick a random value from `pick` for its variable and make a unique event id, so
// the mix reads many accounts and every recordActivity stores a new event.
// A template with `path` (and no `query`) is a plain GET, such as /healthz for the HTTP stack's floor.
const requests = config.requests.map((template) => template.path ? { method: 'GET', path: template.path } : ({
  method: 'POST',
  path: '/graphql',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${template.key}` },
  setupRequest: (request) => {
    const variables = { ...template.variables }
    if (template.pick) {
      variables[template.pick.variable] = template.pick.values[Math.floor(Math.random() * template.pick.values.length)]
    }
    if (template.unique) {
      sequence += 1
      variables[template.unique] = `${config.runId}-${process.pid}-${sequence}`
    }
    request.body = JSON.stringify({ query: template.query, variables })
    return request
  }
}))

autocannon({
  url: config.url,
  connections: config.connections,
  duration: config.duration,
  requests
}, (error, result) => {
  if (error) {
    console.error(error)
    process.exit(1)
  }
  console.log(JSON.stringify({
    requests_per_second: result.requests.average,
    total: result.requests.total,
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non_2xx: result.non2xx
  }))
})
