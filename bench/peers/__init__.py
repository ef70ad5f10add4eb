"""Peers of kgcrm for bench/bench_peers.py: the Neo4j GraphQL Library and Neo4j Graph Data Science."""
