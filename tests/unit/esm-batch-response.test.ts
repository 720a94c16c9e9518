import { interpretResponse } from '../../lib/local/esm/batch-response';

const batch = ['100', '200', '300', '400'];

describe('partial batch responses (ReportBatchItemFailures)', () => {
  test('without ReportBatchItemFailures any response is a success', () => {
    expect(interpretResponse({ batchItemFailures: [{ itemIdentifier: '200' }] }, batch, false)).toEqual({ kind: 'success' });
  });

  test.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty response', {}],
    ['a null list', { batchItemFailures: null }],
    ['an empty list', { batchItemFailures: [] }],
  ])('%s is a complete success', (_, response) => {
    expect(interpretResponse(response, batch, true)).toEqual({ kind: 'success' });
  });

  test('the lowest failed sequence number is the retry point, whatever the order of the list', () => {
    expect(interpretResponse({ batchItemFailures: [{ itemIdentifier: '400' }, { itemIdentifier: '200' }] }, batch, true)).toEqual({ kind: 'partial', firstFailedIndex: 1 });
    expect(interpretResponse({ batchItemFailures: [{ itemIdentifier: '100' }] }, batch, true)).toEqual({ kind: 'partial', firstFailedIndex: 0 });
  });

  test('sequence numbers are compared as numbers, not strings', () => {
    const seqs = ['9', '10', '11'];
    expect(interpretResponse({ batchItemFailures: [{ itemIdentifier: '11' }, { itemIdentifier: '10' }] }, seqs, true)).toEqual({ kind: 'partial', firstFailedIndex: 1 });
  });

  test.each([
    ['an empty itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }],
    ['a wrong key name', { batchItemFailures: [{ sequenceNumber: '200' }] }],
    ['an itemIdentifier not in the batch', { batchItemFailures: [{ itemIdentifier: '250' }] }],
    ['a list that is not a list', { batchItemFailures: '200' }],
  ])('%s fails the whole batch', (_, response) => {
    expect(interpretResponse(response, batch, true).kind).toBe('failure');
  });
});
