// Every GraphQL document the console sends, and only here: CI validates each export of this
// module against schema.graphql (tests/clients/test/console-code.test.mjs), so an API change
// that breaks the console fails CI.

const PROGRESS_FIELDS = /* GraphQL */ `
  total planned inProgress implemented verified deferred cancelled overdue slipped
  percentImplemented percentVerified
`;

const MEASURE_ROW = /* GraphQL */ `
  fragment MeasureRow on Measure {
    id code title titleLocal status dueOn nextDueOn originalDueOn startedOn completedOn overdue recurrence
    owner { id code name nameLocal }
  }
`;

/** Who the token belongs to is read from the token itself; this checks that it works. */
export const SIGN_IN_CHECK = /* GraphQL */ `
  query SignInCheck {
    regulators(first: 1) { totalCount }
  }
`;

export const NAVIGATION = /* GraphQL */ `
  query Navigation {
    orders(first: 100) { nodes { id reference title titleLocal regulator { code } } }
  }
`;

export const DASHBOARD = /* GraphQL */ `
  query Dashboard($asOf: NaiveDate) {
    progress(asOf: $asOf) {
      asOf ${PROGRESS_FIELDS}
      regulators { regulator { id code name nameLocal } ${PROGRESS_FIELDS} }
      orders {
        order { id reference title titleLocal issuedOn regulator { id code } }
        findings ${PROGRESS_FIELDS}
      }
    }
    upcomingReports(withinDays: 60, first: 20) {
      nodes { id code title titleLocal dueOn daysToDeadline status order { reference } }
    }
    expiringEvidence(withinDays: 60, first: 20) {
      nodes { id title validUntil measure { id code title titleLocal } }
    }
    overdueMeasures(asOf: $asOf, first: 20) {
      totalCount
      nodes { ...MeasureRow }
    }
  }
  ${MEASURE_ROW}
`;

/** One point of the burn-up chart: an order's figures as they stood at the end of `asOf`. */
export const ORDER_PROGRESS_AT = /* GraphQL */ `
  query OrderProgressAt($id: ID!, $asOf: NaiveDate!) {
    node(id: $id) {
      ... on Order { progress(asOf: $asOf) { total implemented verified } }
    }
  }
`;

export const ORDER_GANTT = /* GraphQL */ `
  query OrderGantt($orderId: ID!, $asOf: NaiveDate) {
    measures(filter: { orderId: $orderId }, orderBy: { field: DUE_ON }, first: 100, asOf: $asOf) {
      nodes { ...MeasureRow }
    }
  }
  ${MEASURE_ROW}
`;

export const ORDER_PAGE = /* GraphQL */ `
  query OrderPage($reference: String!) {
    orderByReference(reference: $reference) {
      id reference kind title titleLocal legalBasis issuedOn incidentDisclosedOn status summary
      regulator { id code name nameLocal }
      progress { findings ${PROGRESS_FIELDS} }
      findings(first: 100) {
        nodes { id number category title facts factsEn directive directiveEn }
      }
      timeline(first: 100) { nodes { on at kind summary nodeId } }
    }
    owners(first: 100) { nodes { id code name nameLocal } }
  }
`;

export const ORDER_MEASURES = /* GraphQL */ `
  query OrderMeasures($filter: MeasureFilter!) {
    measures(filter: $filter, first: 100) {
      totalCount
      nodes { ...MeasureRow findings(first: 20) { nodes { id } } }
    }
  }
  ${MEASURE_ROW}
`;

export const MEASURE_PAGE = /* GraphQL */ `
  query MeasurePage($id: ID!) {
    node(id: $id) {
      ... on Measure {
        ...MeasureRow
        plan statusReason note version graceDays anchorOn onTimeRate updatedAt
        transitions
        permissions { canEdit canEvaluate canAddEvidence canVerify }
        findings(first: 20) {
          nodes { id number title directive directiveEn order { id reference title titleLocal } }
        }
        systems(first: 50) { nodes { id code name } }
        evidence(first: 100) {
          nodes {
            id kind title issuedBy issuedOn validFrom validUntil sha256 mediaType sizeBytes
            storageUri downloadPath current submittedBy submittedAt
            supersedes { id title }
          }
        }
        periods(first: 24) {
          nodes { period dueOn status doneOn doneBy skipReason }
        }
        occurrences(first: 50) { nodes { id period dueOn doneOn doneBy note } }
        dueDateChanges { from to later reason by at }
        pendingChange { id kind reason proposedDueOn requestedBy requestedAt }
        evaluations(first: 50) {
          nodes { id verdict comment evaluatorSubject evaluatedAt evaluator { name nameLocal } }
        }
      }
    }
  }
  ${MEASURE_ROW}
`;

export const TRANSITION_MEASURE = /* GraphQL */ `
  mutation TransitionMeasure($input: TransitionMeasureInput!) {
    transitionMeasure(input: $input) { id status version }
  }
`;

export const UPLOAD_EVIDENCE = /* GraphQL */ `
  mutation UploadEvidence($input: EvidenceInput!, $file: Upload!, $expectedSha256: String) {
    uploadEvidence(input: $input, file: $file, expectedSha256: $expectedSha256) {
      id title sha256 sizeBytes mediaType
    }
  }
`;

export const ADD_EVALUATION = /* GraphQL */ `
  mutation AddEvaluation($input: AddEvaluationInput!) {
    addEvaluation(input: $input) { id verdict comment evaluatedAt }
  }
`;

export const REPORTS = /* GraphQL */ `
  query Reports($filter: ReportFilter) {
    reports(filter: $filter, first: 100) {
      nodes {
        id code kind title titleLocal status dueOn originalDueOn daysToDeadline submittedOn
        acknowledgedOn order { id reference title titleLocal regulator { code } }
      }
    }
  }
`;

export const REPORT_PAGE = /* GraphQL */ `
  query ReportPage($id: ID!) {
    node(id: $id) {
      ... on Report {
        id code kind title titleLocal status dueOn originalDueOn daysToDeadline submittedOn
        acknowledgedOn body snapshot version
        order { id reference title titleLocal }
        permissions { canSubmit canEvaluate canGenerateReport canDownloadBundle }
        dueDateChanges { from to later reason by at }
        measures(first: 100) { totalCount nodes { id code title titleLocal status } }
        evaluations(first: 50) {
          nodes { id verdict comment evaluatorSubject evaluatedAt evaluator { name nameLocal } }
        }
      }
    }
  }
`;

export const SUBMIT_REPORT = /* GraphQL */ `
  mutation SubmitReport($id: ID!, $version: Int!) {
    submitReport(id: $id, version: $version) { id status submittedOn version }
  }
`;

export const GENERATED_REPORT = /* GraphQL */ `
  query GeneratedReport($orderId: ID!, $asOf: NaiveDate, $format: ReportFormat!) {
    regulatorReport(orderId: $orderId, asOf: $asOf, format: $format) {
      filename mediaType contentBase64 sha256 sizeBytes
    }
  }
`;

export const REPORT_BUNDLE = /* GraphQL */ `
  query ReportBundle($reportId: ID!) {
    reportBundle(reportId: $reportId) { fileName mediaType contentBase64 sha256 sizeBytes keyId }
  }
`;

export const OWNERS = /* GraphQL */ `
  query Owners {
    owners(first: 100) {
      nodes {
        id code name nameLocal kind roleTitle
        workload { open overdue total periodsDone periodsLate periodsMissed onTimeRate }
      }
    }
  }
`;

export const SEARCH = /* GraphQL */ `
  query Search($filter: MeasureFilter!) {
    measures(filter: $filter, first: 50) {
      totalCount
      nodes { ...MeasureRow findings(first: 5) { nodes { order { reference } } } }
    }
  }
  ${MEASURE_ROW}
`;

export const MEASURE_CHANGED = /* GraphQL */ `
  subscription MeasureChanged($orderId: ID) {
    measureChanged(orderId: $orderId) { id status version }
  }
`;

export const REPORT_CHANGED = /* GraphQL */ `
  subscription ReportChanged($orderId: ID) {
    reportChanged(orderId: $orderId) { id status version }
  }
`;
