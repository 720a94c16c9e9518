/**
 * No Docker engine runs on our machines, so the LocalStack setup is checked statically: the compose file
 * parses and says what the README says, and serverless.yml sends only the `local` stage to LocalStack.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { serverlessService } from '../../infra/serverless-service';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('the compose file pins a LocalStack version and exposes the edge on 4566 with the services a job needs', () => {
  const compose = parse(read('localstack/docker-compose.yml'));
  const service = compose.services.localstack;
  expect(service.image).toMatch(/^localstack\/localstack:\d+\.\d+\.\d+$/);
  expect(service.ports).toContain('127.0.0.1:4566:4566');
  const services = String(service.environment.SERVICES).split(',');
  for (const needed of ['cloudformation', 'iam', 's3', 'lambda', 'kinesis', 'dynamodb', 'sqs', 'events', 'logs', 'cloudwatch', 'kms']) expect(services).toContain(needed);
  expect(service.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
  const init = path.join(ROOT, 'localstack/init/01-ready.sh');
  expect(fs.statSync(init).mode & 0o111).not.toBe(0);
});

test('serverless.yml uses the localstack plugin for the local stage only, on the same edge port', () => {
  const config = parse(read('serverless.yml'));
  expect(config.plugins).toContain('serverless-localstack');
  expect(config.custom.localstack).toMatchObject({ stages: ['local'], edgePort: 4566, host: 'http://localhost' });
  expect(config.functions).toBe('${file(./infra/serverless.js):functions}');
  expect(config.resources).toBe('${file(./infra/serverless.js):resources}');
  const pkg = JSON.parse(read('package.json'));
  expect(pkg.dependencies['serverless-localstack']).toBeDefined();
  expect(pkg.dependencies.osls).toBeDefined();
});

test("the service `shardflow deploy` writes for a project without a serverless.yml is this serverless.yml, with the package's own paths", () => {
  const partsFile = path.join(ROOT, 'infra/serverless.js');
  const asInRepository = (config: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(config).replaceAll(partsFile, './infra/serverless.js'));
  const repository = parse(read('serverless.yml'));
  const local = asInRepository(serverlessService({ stage: 'local' }));
  expect(local.plugins).toEqual([path.join(ROOT, 'node_modules/serverless-localstack')]);
  expect({ ...local, plugins: ['serverless-localstack'] }).toEqual(repository);
  const { plugins: _, custom: __, ...aws } = repository;
  expect(asInRepository(serverlessService({ stage: 'prod' }))).toEqual(aws);
});

test('the README section documents the same commands and port', () => {
  const readme = read('localstack/README.md');
  expect(readme).toContain('docker compose -f localstack/docker-compose.yml up -d');
  expect(readme).toContain('npx shardflow deploy examples/click-counts.ts --stage local');
  expect(readme).toContain('http://localhost:4566');
});
