; Inno Setup 6 script for Docent (Windows x64). NOT built or tested on this project's CI:
; packaging\windows\build.ps1 builds dist\docent\ with PyInstaller and then runs
;   ISCC.exe /DAppVersion=0.1.0 packaging\windows\docent.iss
; which writes dist\docent-<version>-setup.exe.
;
; Installs per user by default (no admin prompt; "Install for all users" is offered) into
; Program Files or %LOCALAPPDATA%\Programs. Uninstall removes only what was installed: knowledge
; bases, settings and caches in %LOCALAPPDATA%\Docent stay.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Docent"
#define SrcDir "..\..\dist\docent"

[Setup]
AppId={{6E0D6C1B-5B8E-4F0B-9C55-2B7D8C1D0C7A}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Docent
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=docent-{#AppVersion}-setup
SetupIconFile=docent.ico
UninstallDisplayIcon={app}\docentw.exe
; the GGUF and ONNX models barely compress: fast LZMA2 keeps the build in minutes
Compression=lzma2/fast
SolidCompression=no
WizardStyle=modern
ChangesEnvironment=yes

[Languages]
Name: "en"; MessagesFile: "compiler:Default.isl"
Name: "ru"; MessagesFile: "compiler:Languages\Russian.isl"
Name: "ja"; MessagesFile: "compiler:Languages\Japanese.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add docent.exe (command line) to PATH"; Flags: unchecked

[Files]
Source: "{#SrcDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\docentw.exe"; WorkingDir: "{userdocs}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\docentw.exe"; WorkingDir: "{userdocs}"; Tasks: desktopicon

[Registry]
; per-user or machine PATH, matching the install mode; removed again on uninstall
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\docentw.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
  RootKey: Integer;
begin
  if IsAdminInstallMode then RootKey := HKEY_LOCAL_MACHINE else RootKey := HKEY_CURRENT_USER;
  if not RegQueryStringValue(RootKey, EnvKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Paths, Dir: String;
  RootKey, P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then exit;
  if IsAdminInstallMode then RootKey := HKEY_LOCAL_MACHINE else RootKey := HKEY_CURRENT_USER;
  Dir := ExpandConstant('{app}');
  if RegQueryStringValue(RootKey, EnvKey(''), 'Path', Paths) then
  begin
    P := Pos(';' + Uppercase(Dir), Uppercase(Paths));
    if P > 0 then
    begin
      Delete(Paths, P, Length(Dir) + 1);
      RegWriteExpandStringValue(RootKey, EnvKey(''), 'Path', Paths);
    end;
  end;
  { %LOCALAPPDATA%\Docent (knowledge bases, settings, caches) is the user's: left alone. }
end;
