/** The relay checkpoint value as stored (docs/keys.md): read leniently, never into a revision to skip to. */
import { parseCheckpoint } from '../../../shared/relay/checkpoint';

test('a stored checkpoint gives each route its revision and their minimum', () => {
  expect(parseCheckpoint('{"revision":7,"routes":{"/config/":9,"/jobs/ready/":7}}')).toEqual({
    revision: 7,
    routes: { '/config/': 9, '/jobs/ready/': 7 },
  });
});

test('anything unreadable counts as nothing sent (a re-send from the start, never a skip)', () => {
  expect(parseCheckpoint('12')).toEqual({ revision: 0, routes: {} });
  expect(parseCheckpoint('not json')).toEqual({ revision: 0, routes: {} });
  expect(parseCheckpoint('{"revision":-1,"routes":{"/a/":"5","/b/":2.5,"/c/":4}}')).toEqual({
    revision: 0,
    routes: { '/c/': 4 },
  });
});
