"""Plans made once, for the statements of the real-time path.

A Neo4j server plans a statement again (0.1-1.3 s for a scorer pass's large reads and writes on a busy
two-core machine, inside the pass, with every event behind it waiting: the tail of the events benchmark,
bench/RESULTS.md "Events end to end", session 9) in two cases that the real-time path would hit all day:

- Its plan cache is keyed by the text AND by the size class of every list parameter (empty, one, a few,
  tens, hundreds...): a statement with eight list parameters has thousands of keys. So such statements
  take their lists inside one map parameter (`$batch.ids`): one key, one plan, whatever the sizes.
- A cached plan is replanned once the counts it was planned with have drifted far enough, and events add
  Activity, ScoreChange and Action nodes all the time. `keep_plan` marks a statement whose every pattern
  starts from a unique property (backed by a uniqueness constraint), an internal id, or the index its
  `USING INDEX` hint names: no count can change its plan, so the cached one is kept (`CYPHER replan=skip`;
  a schema change still clears it). A statement that leaves the planner a choice must not use it: its
  first plan, made on whatever the graph held then, would stay.
"""

KEEP_PLAN = "CYPHER replan=skip"


def keep_plan(statement: str) -> str:
    """`statement` with its cached plan kept however the counts change (see the module's docstring)."""
    return f"{KEEP_PLAN}\n{statement.lstrip()}"
