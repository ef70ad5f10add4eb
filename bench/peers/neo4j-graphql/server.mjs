// The peer of bench/bench_peers.py: a minimal Neo4j GraphQL Library server on Apollo Server.
// Usage: node server.mjs PORT   (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD from the environment)
import { readFileSync } from 'node:fs'
import { ApolloServer } from '@apollo/server'
import { startStandaloneServer } from '@apollo/server/standalone'
import { Neo4jGraphQL } from '@neo4j/graphql'
import neo4j from 'neo4j-driver'

const port = Number(process.argv[2] || 4000)
const typeDefs = readFileSync(new URL('./typeDefs.graphql', import.meta.url), 'utf8')
const driver = neo4j.driver(process.env.NEO4J_URI, neo4j.auth.basic(process.env.NEO4J_USER || 'neo4j', process.env.NEO4J_PASSWORD))
const schema = await new Neo4jGraphQL({ typeDefs, driver }).getSchema()
const server = new ApolloServer({ schema, introspection: false })
const { url } = await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' } })
console.log(`ready ${url}`)

const stop = async () => { await server.stop(); await driver.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
