/**
 * The program of a slot (see slotExecutor.ts), in Perl: every machine a runner runs on has one
 * (`perl-base` is essential on Debian; macOS ships it), and it reports an exact end (exit code or
 * signal). Core Perl and Fcntl only, Time::HiRes when there: no POSIX, whose size made every fork
 * cost a fifth more (a fork copies the forking process's page tables), and nothing is done in the
 * child between fork and exec but what must be (each page it touches is copied).
 *
 * Arguments: the records file, the runner's pid, the grace (ms) before SIGKILL, the drain (ms),
 * in a Slurm job a prefix of variables to keep (SLURM_), and the hold file. In a Slurm job the
 * job is the slot's parent (runner pid 0), and a scancel's SIGTERM is handed to the attempt while
 * the slot stays to record its end.
 *
 * Requests on stdin: "<bytes>\n" then fields joined by NUL: key, attempt, order (the runner's, for
 * the start record), cwd, log file, header, prefix ("" for none), wants lines ("1"/"0"), queued
 * ("1": sent while an attempt ran here), durable ("1": its end record is synced before it is
 * reported, and before anything queued behind it starts), the files it starts only if they are
 * unchanged (lines of "<stamp> <path>"; a stamp is "<inode>:<size>:<mtime in s>", or "-" for no
 * file), a retired log to make the log from ("" for none; slotExecutor.ts), the environment's
 * form, command, then the environment: with form "=" its every
 * NAME=value (the kept prefix's variables added), with "+" what differs from the request
 * before's (NAME=value set, NAME unset; the first's from the slot's own). Requests wait in the
 * pipe: a slot takes the next the moment one ends. It declines (does not start) a queued one when
 * the attempt before it did not succeed or was declined (the runner decides what follows), the
 * hold file exists (a pause or a stop: nothing new starts), or one of its files changed (a step
 * queued behind the one before it starts only if that one wrote no outputs and no control file
 * was written meanwhile); and stops taking any once its runner is gone (its successor decides
 * what runs).
 *
 * The same program is in C (slotNative.ts), which a runner uses where there is a `cc`; Slurm jobs
 * use this one. A change to either is made to both: test/unit/slotScript.test.ts runs every case
 * against each. (Except when reports are written: the C one holds them a moment, this one writes
 * each at once; the runner reads either, and a Slurm element has nobody to wake.)
 *
 * Reports on stdout, a line each: "S <pgid>" started, "O <line>" output, stdout and stderr alike
 * (when wanted), "L <errno> <error>" the log cannot be written, "Q" the shell exited, "X <code>
 * <signal> <held> <synced>" the end (the slot in C adds "<started> <ended>", in ms since 1970:
 * it holds its reports), "F <error>" it could not start, "D" declined. Records, appended to
 * the records file, one write a line: "start", "group", "end" (see attemptRecords.ts).
 */
export const SLOT_SCRIPT = String.raw`
my ($records, $runner, $grace_ms, $drain_ms, $log_flags, $keep, $hold) = @ARGV;
$keep //= '';
$hold //= '';
my $WNOHANG = 1;  # the same on Linux, macOS and the BSDs
use Fcntl qw(O_WRONLY O_NOFOLLOW);
# In a Slurm job, a cancel's SIGTERM is handed to the attempt's group (Slurm may signal only the
# job's own process group, and the attempt has its own); the slot stays to record its end.
my $attempt_group = 0;
$SIG{TERM} = sub { kill('TERM', -$attempt_group) if $attempt_group } if $keep ne '';
# Milliseconds for the waits of a group that outlives its shell, which are rare: Time::HiRes is
# loaded then (from that moment this slot's forks cost a little more).
my $now;
$now = sub {
  $now = sub { int(time() * 1000) };
  eval { require Time::HiRes; $now = sub { int(Time::HiRes::time() * 1000) }; 1 };
  return $now->();
};
# The runner may be gone: a report then fails with EPIPE. A handler, not IGNORE: an ignored signal
# stays ignored across exec, a handled one does not (the child then needs no change).
$SIG{PIPE} = sub {};
# Requests and reports on descriptors of their own: 0, 1 and 2 are what each attempt gets (/dev/null,
# and its output pipe, set here before the fork, so that the child has nothing to do but exec).
open(my $requests, '<&', \*STDIN) or die "stdin: $!";
open(my $reports, '>&', \*STDOUT) or die "stdout: $!";
open(STDIN, '<', '/dev/null') or die "/dev/null: $!";
open(STDOUT, '>', '/dev/null') or die "/dev/null: $!";
open(my $nowhere, '>&', \*STDOUT) or die "/dev/null: $!";
# Without its records (a full disk) an attempt still runs; only a successor could not adopt it.
my $rec;
open($rec, '>>', $records) or undef $rec;

sub report { syswrite($reports, $_[0]) }
sub record { return $rec && syswrite($rec, $_[0]) == length($_[0]) }

my $last_ok = 1;
while (1) {
  my $len = <$requests>;
  last unless defined $len;
  chomp $len;
  my $payload = '';
  while (length($payload) < $len) {
    my $got = read($requests, $payload, $len - length($payload), length($payload));
    last unless $got;
  }
  last if length($payload) < $len;
  last if $runner && getppid() != $runner;
  my @fields = split /\0/, $payload, -1;
  # Applied even to a request declined: the next one's changes are from this one's environment.
  environment(@fields[12, 14 .. $#fields]);
  # Only what was queued: a request sent to it idle is the runner's decision of now, and a pause
  # that follows it finds it in flight.
  if (($fields[8] eq '1' && (!$last_ok || ($hold ne '' && -e $hold))) || !unchanged($fields[10] // '')) {
    report("D\n");
    $last_ok = 0;
    next;
  }
  $last_ok = run_attempt(@fields);
}
exit 0;

# A log of an earlier run the runner retired, made this attempt's log (see the C slot): only a
# plain file in no other place, emptied first.
sub reuse_log {
  my ($reuse, $log) = @_;
  sysopen(my $fh, $reuse, O_WRONLY | O_NOFOLLOW) or return;
  my @s = stat($fh);
  link($reuse, $log) and unlink($reuse) if @s && -f _ && $s[3] == 1 && truncate($fh, 0);
  close $fh;
}

# Each "<stamp> <path>" still holds: the file is the same (inode, size, mtime), or still absent.
sub unchanged {
  for (split /\n/, $_[0]) {
    my ($stamp, $path) = split / /, $_, 2;
    my @s = stat($path);
    return 0 if (@s ? "$s[1]:$s[7]:$s[9]" : '-') ne $stamp;
  }
  return 1;
}

# The attempt's environment, set in the slot before the fork (the child touches nothing more):
# form "=" replaces it, "+" changes what the request before set (items differ in a few variables).
sub environment {
  my ($form, @entries) = @_;
  if ($form eq '=') {
    my %env = map { split /=/, $_, 2 } @entries;
    if ($keep ne '') { for (keys %ENV) { $env{$_} = $ENV{$_} if index($_, $keep) == 0 } }
    %ENV = %env;
    return;
  }
  for (@entries) {
    my $at = index($_, '=');
    if ($at < 0) { delete $ENV{$_} } else { $ENV{substr($_, 0, $at)} = substr($_, $at + 1) }
  }
}

sub run_attempt {
  my ($key, $n, $order, $cwd, $log, $header, $prefix, $lines, $queued, $durable, $gates, $reuse, $form, $command) = @_;
  record("start\t$key\t$n\t$$\t$order\n");
  # The slot's own paths are absolute: it can stand in the attempt's folder.
  return cannot_start($key, $n, "chdir $cwd: $!") unless chdir($cwd);
  # One pipe for stdout and stderr, as they interleave. Perl opens it close-on-exec.
  my ($out, $in);
  return cannot_start($key, $n, "pipe: $!") unless pipe($out, $in);
  open(STDOUT, '>&', $in);
  open(STDERR, '>&', $in);
  close $in;
  my $pid = fork();
  if (defined $pid && $pid == 0) {
    setpgrp(0, 0);
    { exec('/bin/sh', '-c', $command) };
    print STDERR "could not start: /bin/sh: $!\n";
    exit 127;
  }
  # Only the child holds the pipe's end now: its end (and its group's) is the pipe's. 1 and 2
  # stay taken (by /dev/null): the next pipe must not land on them.
  open(STDOUT, '>&', $nowhere);
  open(STDERR, '>&', $nowhere);
  unless (defined $pid) { close $out; return cannot_start($key, $n, "fork: $!") }
  setpgrp($pid, $pid);  # here too: the group exists before the runner may signal it
  $attempt_group = $pid;
  record("group\t$key\t$n\t$pid\n");
  report("S $pid\n");

  reuse_log($reuse, $log) if $reuse ne '';
  my $fd;
  my $log_ok = sysopen($fd, $log, $log_flags, 0644);
  report('L ' . (0 + $!) . " $!\n") unless $log_ok;
  my $write = sub {
    return unless $log_ok;
    my $data = shift;
    unless (defined syswrite($fd, $data)) { $log_ok = 0; report('L ' . (0 + $!) . " $!\n") }
  };
  $write->($header);

  my $partial = '';
  my $emit = sub {
    my $line = shift;
    $line =~ s/\r$//;
    $write->("$prefix$line\n") if $prefix ne '';
    report("O $line\n") if $lines;
  };
  my ($status, $gone_at, $open) = (undef, undef, 1);
  my $rin = '';
  vec($rin, fileno($out), 1) = 1;
  while ($open) {
    my $timeout = defined $gone_at ? 0.02 : (defined $status ? 0.01 : 0.05);
    if (select(my $rout = $rin, undef, undef, $timeout) > 0) {
      my $got = sysread($out, my $chunk, 65536);
      if (!$got) {
        $emit->($partial) if $partial ne '';
        $open = 0;
        last;
      }
      $write->($chunk) if $prefix eq '';
      if ($prefix ne '' || $lines) {
        my @parts = split /\n/, $partial . $chunk, -1;
        $partial = pop @parts;
        # A whole line is cut as one not yet ended is: 4,096 bytes at most a line, however the reads fell.
        for my $part (@parts) { $emit->(substr($part, 0, 4096, '')) while length($part) > 4096; $emit->($part) }
        $emit->(substr($partial, 0, 4096, '')) while length($partial) > 4096;
      }
    }
    if (!defined $status) {
      if (waitpid($pid, $WNOHANG) == $pid) { $status = $?; report("Q\n"); $gone_at = stop_group($pid) }
    } elsif (!defined $gone_at) {
      $gone_at = $now->();  # output goes on after the group was gone: the drain's clock starts
    }
    # The shell and its group are gone, and the output is still held (by a process that left the
    # group): after the drain it is no longer read; the runner stops what carries the identity.
    last if defined $gone_at && $now->() - $gone_at > $drain_ms;
  }
  close $out;
  unless (defined $status) { waitpid($pid, 0); $status = $?; report("Q\n"); stop_group($pid) }
  close $fd if $log_ok;
  my ($code, $signal) = ($status & 127) ? ('', $status & 127) : ($status >> 8, '');
  $attempt_group = 0;
  my $recorded = record("end\t$key\t$n\t$code\t$signal\t" . time() . "\n");
  # Durable: on disk before the runner hears of it, and before what is queued behind it starts
  # (an end that could not be recorded and synced is no commit: nothing queued follows it).
  my $synced = $durable eq '1' && $recorded && eval { require IO::Handle; $rec->sync } ? 1 : 0;
  report("X $code $signal $open $synced\n");
  return $code eq '0' && ($synced || $durable ne '1');
}

# Whatever the shell left running in its group goes with it: TERM, then KILL after the grace.
# When it is gone: undef if it was at once, else the time it went.
sub stop_group {
  my $pgid = shift;
  # An empty group, the usual end: no clock needed.
  return undef unless group_alive($pgid);
  # A moment first: what is leaving the group (setsid cmd &) or ending goes by itself.
  my $settle = $now->() + 20;
  select(undef, undef, undef, 0.002) while group_alive($pgid) && $now->() < $settle;
  return $now->() unless group_alive($pgid);
  kill('TERM', -$pgid);
  my $until = $now->() + $grace_ms;
  my $killed = 0;
  while (group_alive($pgid)) {
    if ($now->() > $until) {
      last if $killed;  # zombies an init does not reap hold nothing: the group is gone
      kill('KILL', -$pgid);
      ($killed, $until) = (1, $now->() + 1000);
    }
    select(undef, undef, undef, 0.01);
  }
  return $now->();
}

# A member that is not a zombie: a killed orphan stays one until init reaps it, which some inits
# (containers, VMs) do late; it holds nothing.
sub group_alive {
  my $pgid = shift;
  return 0 unless kill(0, -$pgid);
  opendir(my $proc, '/proc') or return 1;
  for my $pid (readdir $proc) {
    next unless $pid =~ /^\d+$/;
    open(my $f, '<', "/proc/$pid/stat") or next;
    my $stat = <$f>;
    close $f;
    next unless defined $stat;
    my @fields = split / /, substr($stat, rindex($stat, ')') + 2);
    return 1 if $fields[2] == $pgid && $fields[0] ne 'Z';
  }
  return 0;
}

sub cannot_start {
  my ($key, $n, $why) = @_;
  $why =~ s/\n/ /g;
  record("end\t$key\t$n\t\t\t" . time() . "\tcould not start: $why\n");
  report("F $why\n");
  return 0;
}
`;
