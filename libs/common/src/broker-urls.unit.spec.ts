import { BrokerRotation, amqpConnectTarget, backoffDelay, brokerNodeOf, parseBrokerUrls } from './broker-urls';

describe('parseBrokerUrls', () => {
  it('takes one URL, or several comma-separated with spaces around them', () => {
    expect(parseBrokerUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual(['amqp://guest:guest@127.0.0.1:5672']);
    expect(parseBrokerUrls(' amqp://a:1@mq1:5672/v , amqps://a:1@mq2 ,')).toEqual(['amqp://a:1@mq1:5672/v', 'amqps://a:1@mq2']);
    expect(parseBrokerUrls(['amqp://mq1', 'amqp://mq2,amqp://mq3'])).toEqual(['amqp://mq1', 'amqp://mq2', 'amqp://mq3']);
  });

  it('names each bad entry without printing its password', () => {
    let message = '';
    try {
      parseBrokerUrls('amqp://u:s3cret@mq1:5672,http://u:s3cret@mq2,amqp://u:s3cret@mq3:99999');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/URL 2 of 3 \(http:\/\/u:\*\*\*@mq2\/?\) must be an amqp:\/\/ or amqps:\/\/ URL/);
    expect(message).toMatch(/URL 3 of 3 .*(invalid port|not a valid URL)/);
    expect(message).not.toContain('s3cret');
    expect(() => parseBrokerUrls(' , ')).toThrow('no RabbitMQ URL given');
  });
});

describe('amqpConnectTarget', () => {
  it('carries host, port, credentials, vhost and tuning of the URL, with a default heartbeat', () => {
    expect(amqpConnectTarget('amqp://us%40r:p%3Ass@mq1:5673/my%2Fvhost?frameMax=8192', 30)).toEqual({
      protocol: 'amqp',
      hostname: 'mq1',
      port: 5673,
      username: 'us@r',
      password: 'p:ss',
      vhost: 'my%2Fvhost',
      heartbeat: 30,
      frameMax: 8192,
      channelMax: undefined,
      locale: undefined,
    });
    expect(amqpConnectTarget('amqps://mq2?heartbeat=5', 30)).toMatchObject({ protocol: 'amqps', hostname: 'mq2', port: undefined, username: undefined, vhost: '', heartbeat: 5 });
  });
});

describe('BrokerRotation', () => {
  it('goes round the nodes in turn, switching the one target object amqplib reads', () => {
    const rotation = new BrokerRotation('amqp://a:1@mq1:1,amqp://a:1@mq2:2,amqp://a:1@mq3:3', 10);
    const target = rotation.target;
    expect([target.hostname, target.port]).toEqual(['mq1', 1]);
    expect(rotation.advance()).toBe('amqp://a:1@mq2:2');
    expect(rotation.target).toBe(target);
    expect([target.hostname, target.port]).toEqual(['mq2', 2]);
    rotation.advance();
    rotation.advance();
    expect(rotation.current).toBe('amqp://a:1@mq1:1');
  });

  it('stays on a single node', () => {
    const rotation = new BrokerRotation('amqp://mq1', 10);
    expect(rotation.advance()).toBe('amqp://mq1');
    expect(rotation.target.hostname).toBe('mq1');
  });
});

describe('backoffDelay', () => {
  const options = { initialMs: 100, maxMs: 5_000, jitter: 0.2 };

  it('doubles from the first delay, spread by the jitter either way', () => {
    expect(backoffDelay(1, options, () => 0.5)).toBe(100);
    expect(backoffDelay(3, options, () => 0.5)).toBe(400);
    expect(backoffDelay(1, options, () => 0)).toBe(80);
    expect(backoffDelay(1, options, () => 1)).toBe(120);
  });

  it('never exceeds the cap, and still spreads there', () => {
    expect(backoffDelay(50, options, () => 1)).toBe(5_000);
    expect(backoffDelay(50, options, () => 0)).toBeLessThan(backoffDelay(50, options, () => 0.99));
  });
});

describe('brokerNodeOf', () => {
  it('is host:port without credentials', () => {
    expect(brokerNodeOf('amqp://u:secret@mq1/vh')).toBe('mq1:5672');
    expect(brokerNodeOf('amqps://u:secret@mq1:5999')).toBe('mq1:5999');
  });
});
