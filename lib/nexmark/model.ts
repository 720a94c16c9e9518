/**
 * Nexmark's records with the columns of nexmark-flink's DDL (`ddl_gen.sql`): a person, an auction and a
 * bid, and the event of the `datagen` table that carries one of them. Timestamps are epoch ms (a
 * TIMESTAMP(3) column reads them as they are).
 */

export interface Person {
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  readonly dateTime: number;
  readonly extra: string;
}

export interface Auction {
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly extra: string;
}

/** `event_type` as the datagen table has it. */
export const EVENT_TYPE = { person: 0, auction: 1, bid: 2 } as const;

/** A row of nexmark-flink's `datagen` table: one of the three, the others NULL, and its event time. */
export type NexmarkEvent =
  | { readonly event_type: 0; readonly person: Person; readonly auction: null; readonly bid: null; readonly dateTime: number }
  | { readonly event_type: 1; readonly person: null; readonly auction: Auction; readonly bid: null; readonly dateTime: number }
  | { readonly event_type: 2; readonly person: null; readonly auction: null; readonly bid: Bid; readonly dateTime: number };

/** The three views the queries read (`ddl_views.sql`: person, auction and bid over datagen). */
export type NexmarkTable = keyof typeof EVENT_TYPE;

/** What each view holds of an event: its row, or undefined when the event is of another kind. */
export function rowOf(table: 'person', event: NexmarkEvent): Person | undefined;
export function rowOf(table: 'auction', event: NexmarkEvent): Auction | undefined;
export function rowOf(table: 'bid', event: NexmarkEvent): Bid | undefined;
export function rowOf(table: NexmarkTable, event: NexmarkEvent): Person | Auction | Bid | undefined;
export function rowOf(table: NexmarkTable, event: NexmarkEvent): Person | Auction | Bid | undefined {
  return event[table] ?? undefined;
}
