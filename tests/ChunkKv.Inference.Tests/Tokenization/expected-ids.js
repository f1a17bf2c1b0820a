// Expected token ids from @lenml/tokenizers (a JavaScript port of the Hugging Face tokenizers),
// the independent implementation the C# tokenizer is tested against.
// usage: node expected-ids.js LENML_TOKENIZERS_DIR MODEL_DIR < texts.json > ids.json
const fs = require('fs');
const path = require('path');
const { TokenizerLoader } = require(path.join(process.argv[2], 'dist', 'main.js'));
const modelDir = process.argv[3];
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'))),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'))),
});
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
const results = texts.map(text => ({
  text,
  withSpecial: tokenizer.encode(text),
  withoutSpecial: tokenizer.encode(text, { add_special_tokens: false }),
}));
process.stdout.write(JSON.stringify(results));
