/**
 * Persons (Nexmark's `PersonGenerator`): a new id per person event, drawn from a few names, cities and
 * states so that queries find matches in small streams, and the ids sellers and bidders are picked from.
 */
import { FIRST_PERSON_ID, type GeneratorConfig } from './config';
import type { Person } from './model';
import type { SplittableRandom } from './splittable-random';
import { nextString, type ExtraText } from './strings';

/** Ids ahead of the newest person a pick may take (a bid or auction "before" its person event). */
const PERSON_ID_LEAD = 10;
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'];
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];

const pick = <T>(random: SplittableRandom, list: readonly T[]): T => list[random.nextIntBelow(list.length)]!;

export function nextPerson(config: GeneratorConfig, eventId: number, random: SplittableRandom, extra: ExtraText, timestampMs: number): Person {
  const id = lastBase0PersonId(config, eventId) + FIRST_PERSON_ID;
  const name = `${pick(random, FIRST_NAMES)} ${pick(random, LAST_NAMES)}`;
  const emailAddress = `${nextString(random, 7)}@${nextString(random, 5)}.com`;
  const creditCard = [0, 1, 2, 3].map(() => String(random.nextIntBelow(10_000)).padStart(4, '0')).join(' ');
  const city = pick(random, US_CITIES);
  const state = pick(random, US_STATES);
  const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
  return { id, name, emailAddress, creditCard, city, state, dateTime: timestampMs, extra: extra.nextExtra(random, size, config.avgPersonByteSize) };
}

/** The newest person's id (from 0) at an event id: this event's own when it is a person. */
export function lastBase0PersonId(config: GeneratorConfig, eventId: number): number {
  const epoch = Math.trunc(eventId / config.totalProportion);
  const offset = eventId % config.totalProportion;
  return epoch * config.personProportion + Math.min(offset, config.personProportion - 1);
}

/** A person id (from 0) among the active ones, or a few not yet made. */
export function nextBase0PersonId(config: GeneratorConfig, eventId: number, random: SplittableRandom): number {
  const people = lastBase0PersonId(config, eventId) + 1;
  const active = Math.min(people, config.numActivePeople);
  return people - active + random.nextIntBelow(active + PERSON_ID_LEAD);
}
