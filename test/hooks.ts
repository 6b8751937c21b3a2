import chai from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { closeAdmin } from './helpers/db';

chai.use(chaiAsPromised);

export const mochaHooks = {
  async afterAll() {
    await closeAdmin();
  },
};
