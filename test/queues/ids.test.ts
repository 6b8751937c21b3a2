import { expect } from 'chai';
import { decodeTime, isValid } from 'ulid';
import { fastUlid } from '../../src/domain/ids';

describe('row ids', () => {
  it('are ULIDs carrying their millisecond, and distinct', () => {
    const at = Date.parse('2026-11-25T14:20:00.123Z');
    const ids = Array.from({ length: 10000 }, () => fastUlid(at));
    expect(ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id) && isValid(id))).to.equal(true);
    expect(new Set(ids.map(decodeTime))).to.deep.equal(new Set([at]));
    expect(new Set(ids).size).to.equal(10000);
  });
});
