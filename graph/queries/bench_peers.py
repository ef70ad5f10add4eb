"""Cypher for bench/bench_peers.py's scoring peer: Neo4j Graph Data Science (FastRP + node classification).

The GDS graph is projected once with each node's birth time, then filtered to a cutoff with the same
point-in-time rule as kgcrm's export: a node exists at T when its created_at (an activity: its `at`)
is before T, or it has none. Labels reach the
graph only as $parameters (`peer_intent_label` on the accounts of the training cutoff).
"""

from __future__ import annotations

from kgcrm.graph.model import Label

# The CRM labels projected into GDS; governance and bookkeeping nodes stay out.
PROJECTED = (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY, Label.ACTIVITY, Label.USER, Label.PRODUCT, Label.CAMPAIGN)

GDS_VERSION = "RETURN gds.version() AS version"

GDS_LICENSE = """
CALL gds.debug.sysInfo() YIELD key, value
WITH key, value WHERE key IN ['gdsVersion', 'gdsEdition', 'neo4jVersion', 'availableCPUs']
RETURN key, toString(value) AS value
"""

CLEAR_PEER_LABELS = f"""
MATCH (a:{Label.ACCOUNT}) WHERE a.peer_intent_label IS NOT NULL
REMOVE a.peer_intent_label
"""

WRITE_PEER_LABELS = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.id}})
SET a.peer_intent_label = row.label
"""


def _born(var: str) -> str:
    # When the node came to exist, in epoch seconds; -1 (always there) when it has no created_at.
    at = f"CASE WHEN {var}:{Label.ACTIVITY} THEN {var}.at END"
    return f"coalesce(toFloat(coalesce({at}, {var}.created_at).epochSeconds), -1.0)"


def _projected(var: str) -> str:
    return "(" + " OR ".join(f"{var}:{label}" for label in PROJECTED) + f") AND NOT {var}:{Label.MERGED}"


def _properties(var: str) -> str:
    # GDS needs one value per node and property: Accounts carry the label and two numbers (0 when unknown).
    return (f"CASE WHEN {var}:{Label.ACCOUNT} THEN {{born: {_born(var)}, label: coalesce({var}.peer_intent_label, 0), "
            f"log_employees: log10(1.0 + coalesce(toFloat({var}.employees), 0.0)), "
            f"log_revenue: log10(1.0 + coalesce(toFloat({var}.annual_revenue), 0.0))}} ELSE {{born: {_born(var)}}} END")


def project_all() -> str:
    """Project the whole CRM graph, undirected, into the GDS graph $name; every node knows when it was born."""
    return f"""
MATCH (s) WHERE {_projected("s")}
OPTIONAL MATCH (s)-[r]->(t) WHERE {_projected("t")}
WITH gds.graph.project($name, s, t, {{
  sourceNodeLabels: [l IN labels(s) WHERE l IN $labels],
  targetNodeLabels: CASE WHEN t IS NULL THEN NULL ELSE [l IN labels(t) WHERE l IN $labels] END,
  sourceNodeProperties: {_properties("s")},
  targetNodeProperties: CASE WHEN t IS NULL THEN NULL ELSE {_properties("t")} END,
  relationshipType: type(r)
}}, {{undirectedRelationshipTypes: ['*']}}) AS g
RETURN g.nodeCount AS nodes, g.relationshipCount AS relationships
"""


# The graph as it was at $cutoff (epoch seconds): the nodes born before it and the relationships between them.
FILTER_AT_CUTOFF = """
CALL gds.graph.filter($name, $from, 'n.born < $cutoff', '*', {parameters: {cutoff: $cutoff}})
YIELD nodeCount, relationshipCount
RETURN nodeCount AS nodes, relationshipCount AS relationships
"""

DROP_GRAPH = "CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName"
DROP_MODEL = "CALL gds.model.drop($name, false) YIELD modelInfo RETURN modelInfo.modelName AS name"
DROP_PIPELINE = "CALL gds.pipeline.drop($name, false) YIELD pipelineName RETURN pipelineName"

CREATE_PIPELINE = "CALL gds.beta.pipeline.nodeClassification.create($name) YIELD name RETURN name"
ADD_FASTRP = """
CALL gds.beta.pipeline.nodeClassification.addNodeProperty($name, 'fastRP', {
  mutateProperty: 'embedding', embeddingDimension: $dimension, iterationWeights: [0.0, 1.0, 1.0, 1.0],
  randomSeed: $seed, contextNodeLabels: $context
}) YIELD name RETURN name
"""
ADD_DEGREE = """
CALL gds.beta.pipeline.nodeClassification.addNodeProperty($name, 'degree', {
  mutateProperty: 'degree', contextNodeLabels: $context
}) YIELD name RETURN name
"""
SELECT_FEATURES = """
CALL gds.beta.pipeline.nodeClassification.selectFeatures($name, $features) YIELD name RETURN name
"""
CONFIGURE_SPLIT = """
CALL gds.beta.pipeline.nodeClassification.configureSplit($name, {testFraction: 0.2, validationFolds: 3})
YIELD name RETURN name
"""
ADD_LOGISTIC_REGRESSION = """
CALL gds.beta.pipeline.nodeClassification.addLogisticRegression($name, {
  penalty: 0.001, learningRate: 0.01, maxEpochs: 500, patience: 5, classWeights: $class_weights
})
YIELD name RETURN name
"""
ADD_RANDOM_FOREST = """
CALL gds.beta.pipeline.nodeClassification.addRandomForest($name, {
  numberOfDecisionTrees: 100, maxDepth: 8, minSplitSize: 5
})
YIELD name RETURN name
"""
TRAIN = """
CALL gds.beta.pipeline.nodeClassification.train($graph, {
  pipeline: $name, modelName: $model, targetNodeLabels: [$target], targetProperty: 'label',
  metrics: [$metric], randomSeed: $seed, concurrency: $concurrency
}) YIELD modelInfo, modelSelectionStats
RETURN modelInfo.bestParameters AS best, modelInfo.metrics AS metrics, modelInfo.classes AS classes
"""
PREDICT_STREAM = """
CALL gds.beta.pipeline.nodeClassification.predict.stream($graph, {
  modelName: $model, targetNodeLabels: [$target], includePredictedProbabilities: true, concurrency: $concurrency
}) YIELD nodeId, predictedProbabilities
RETURN gds.util.asNode(nodeId).id AS id, predictedProbabilities AS p
"""
PREDICT_WRITE = """
CALL gds.beta.pipeline.nodeClassification.predict.write($graph, {
  modelName: $model, targetNodeLabels: [$target], writeProperty: 'peer_gds_intent_class',
  predictedProbabilityProperty: 'peer_gds_intent_probabilities', concurrency: $concurrency
}) YIELD nodePropertiesWritten
RETURN nodePropertiesWritten AS written
"""
