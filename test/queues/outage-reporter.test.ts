import { expect } from 'chai';
import { outageReporter } from '../../src/queues/unavailable';

// Redis down under running workers: one line per interval for all their reconnect errors, not one
// stack per connection per attempt (issue 20 item 1); other worker errors are reported in full.

describe('Redis outage reporting of the workers', () => {
  it('collapses connection errors of every worker into one line per interval', () => {
    let t = 0;
    const lines: string[] = [];
    const others: string[] = [];
    const onError = outageReporter('redis://:secret@127.0.0.1:6390', (l) => lines.push(l), (q, e) => others.push(`${q}: ${e.message}`), 2000, () => t);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
    for (const queue of ['create-charge', 'payment', 'delete-charge']) onError(queue, refused);
    t = 1999;
    onError('payment', refused);
    t = 2000;
    onError('payment', new Error('Connection is closed.'));
    onError('payment', new Error('Missing lock for job 7. moveToFinished'));
    expect(lines).to.deep.equal([
      'Redis at 127.0.0.1:6390 unreachable (connect ECONNREFUSED 127.0.0.1:6390), reconnecting',
      'Redis at 127.0.0.1:6390 unreachable (Connection is closed.), reconnecting',
    ]);
    expect(others).to.deep.equal(['payment: Missing lock for job 7. moveToFinished']);
  });
});
