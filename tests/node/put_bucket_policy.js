// "Set a bucket policy" from "Bucket policy (Node.js SDK)", Alibaba Cloud OSS documentation
// (last updated Feb 28, 2026), unchanged except the placeholders: the client's constructor
// options point at the emulator (endpoint from OSS_ENDPOINT, e.g. 'http://127.0.0.1:PORT').
const OSS = require('ali-oss');

const client = new OSS({
  region: 'oss-cn-hangzhou',                           // Example: oss-cn-hangzhou
  accessKeyId: process.env.OSS_ACCESS_KEY_ID,
  accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET,
  authorizationV4: true,
  bucket: 'examplebucket',
  endpoint: process.env.OSS_ENDPOINT,
});

const policy = {
  Version: '1',
  Statement: [
    {
      Action: ['oss:ListObjects', 'oss:GetObject'],
      Effect: 'Allow',
      Principal: ['20214760404935xxxx'],
      Resource: ['acs:oss:*:174649585760xxxx:examplebucket'],
    },
  ],
};

async function putPolicy() {
  const result = await client.putBucketPolicy('examplebucket', policy);
  console.log(result);
}

putPolicy();
