import type { Plan } from '../lib/plan/plan';

/**
 * The DynamoDB tables a plan needs, as CloudFormation `AWS::DynamoDB::Table` properties. The local
 * runtime creates the same tables from these definitions, so local and AWS cannot drift apart.
 */
export interface TableDefinition {
  TableName: string;
  AttributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' }[];
  KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  BillingMode: 'PAY_PER_REQUEST';
  GlobalSecondaryIndexes?: {
    IndexName: string;
    KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
    Projection: { ProjectionType: 'KEYS_ONLY' };
  }[];
  SSESpecification: { SSEEnabled: true };
  PointInTimeRecoverySpecification?: { PointInTimeRecoveryEnabled: true };
  TimeToLiveSpecification?: { AttributeName: string; Enabled: true };
}

/** Log entries and chunks expire through DynamoDB TTL on this attribute (epoch seconds): free, unlike deletes. */
export const TTL_ATTRIBUTE = 'expiresAt';

export function stateTableDefinition(plan: Plan): TableDefinition {
  return {
    TableName: plan.stateTable,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
    SSESpecification: { SSEEnabled: true },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
  };
}

/** A results table: one item per key + windowStart, so a repeated result overwrites itself. */
export function sinkTableDefinition(table: string): TableDefinition {
  return {
    TableName: table,
    AttributeDefinitions: [
      { AttributeName: 'key', AttributeType: 'S' },
      { AttributeName: 'windowStart', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'key', KeyType: 'HASH' },
      { AttributeName: 'windowStart', KeyType: 'RANGE' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
    SSESpecification: { SSEEnabled: true },
  };
}

/** Dead letters, one item per failure (`DeadLetter.id`: deterministic, so a replay overwrites its own item). */
export function deadLetterTableDefinition(plan: Plan): TableDefinition {
  return {
    TableName: plan.deadLetterTable,
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
    SSESpecification: { SSEEnabled: true },
  };
}

/** Every table of a plan. */
export function tableDefinitions(plan: Plan): TableDefinition[] {
  return plan.tables.map((t) =>
    t.role === 'state' ? stateTableDefinition(plan) : t.role === 'dead-letter' ? deadLetterTableDefinition(plan) : sinkTableDefinition(t.name),
  );
}
