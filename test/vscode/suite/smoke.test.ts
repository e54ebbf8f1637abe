// Proves the harness itself against test/vscode/fixture-extension; skipped when another
// extension is under test.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

const FIXTURE_ID = 'pausable-tasks.harness-fixture';

describe('harness smoke (fixture extension)', () => {
	before(function () {
		if (!vscode.extensions.getExtension(FIXTURE_ID)) this.skip();
	});

	it('runs in VS Code 1.100', () => {
		assert.ok(vscode.version.startsWith('1.100'), vscode.version);
	});

	it('has the workspace folder open', () => {
		const folders = vscode.workspace.workspaceFolders ?? [];
		assert.equal(folders.length, 1);
		assert.ok(existsSync(join(folders[0].uri.fsPath, 'marker.txt')), folders[0].uri.fsPath);
	});

	it('runs the fixture command', async () => {
		assert.equal(await vscode.commands.executeCommand('harnessFixture.ping'), 'pong');
	});
});
