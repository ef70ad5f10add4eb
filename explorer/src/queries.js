// The GraphQL documents the page sends (docs/api.md); nothing else reaches the server.

export const ME = `query Me { me { role userId } }`;

export const ACCOUNTS = `
query MyAccounts($first: Int!, $after: String, $filter: AccountFilter, $orderBy: Ordering) {
  accounts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name industry region
      owner { name }
      score { value drivers { feature contribution detail } }
      scoreHistory(first: 12) { oldScore newScore changedAt }
      activities(first: 1) { type at subject }
      actions(status: "pending_approval", first: 5) { id }
    } }
  }
}`;

export const ACCOUNT = `
query Account($id: ID!) {
  account(id: $id) {
    __typename
    ... on NotFound { message }
    ... on Account {
      id name domain industry region employees annualRevenue updatedAt
      owner { name }
      parent { id name }
      score { value model scoredAt drivers { feature contribution detail } }
      scoreHistory(first: 60) { id oldScore newScore model changedAt reason }
      contacts(first: 100) {
        id name title seniority
        score { value }
        activities(first: 1) { type at }
      }
      opportunities(first: 100) {
        id name stage amount isClosed isWon closeDate
        score { value }
        committee(first: 20) { role isPrimary contact { id name } }
      }
      activities(first: 25) { id type at subject }
      actions(first: 20) {
        id kind status policy note reasonCode decision decidedAt decidedBy createdAt scoreValue modelVersion
      }
    }
  }
}`;

export const PENDING_ACTIONS = `
query Pending { actions(status: "pending_approval", first: 50) { id kind policy note createdAt scoreValue subjectId } }`;

export const NEIGHBORHOOD = `
query Neighborhood($id: ID!, $depth: Int!, $limit: Int!) {
  neighborhood(id: $id, depth: $depth, limit: $limit) {
    __typename
    ... on Neighborhood { start truncated nodes { id label name score depth } edges { source target type } }
    ... on UserError { message }
  }
}`;

const DECISION_FIELDS = `
    __typename
    ... on Action { id status decision reasonCode decidedAt decidedBy }
    ... on UserError { message field }`;

export const APPROVE = `mutation Approve($id: ID!, $reason: String!) { approveAction(id: $id, reasonCode: $reason) { ${DECISION_FIELDS} } }`;
export const REJECT = `mutation Reject($id: ID!, $reason: String!) { rejectAction(id: $id, reasonCode: $reason) { ${DECISION_FIELDS} } }`;

export const LIVE = {
  actionCreated: `subscription { actionCreated { id kind status policy subjectId scoreValue createdAt } }`,
  scoreChanged: `subscription { scoreChanged(minScore: 0) { id subjectId oldScore newScore changedAt } }`,
};
