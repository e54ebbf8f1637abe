const vscode = require('vscode');

exports.activate = context => {
	context.subscriptions.push(vscode.commands.registerCommand('harnessFixture.ping', () => 'pong'));
};
